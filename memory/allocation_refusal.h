// A per-thread record that the pool refused an allocation: how the memory pool's libtorch
// adapters tell the runtime "this failure was out of memory" without relying on error text.
//
// Note [OOM by type]: the adapters throw c10::OutOfMemoryError, but the TorchScript interpreter
// rethrows errors raised inside a scripted forward as a plain c10::Error with the original
// message embedded, so the exception's type is lost on the way out. Matching "out of memory" in
// the text would also match a model's own error that happens to say so (and would make the
// executor split batches for it). So the adapter records the refusal on the thread that asked,
// right before it throws, and the runtime reads (and clears) the record when forward fails:
// the fact comes from the allocator that refused, whatever the message says.
// The adapters also start their message with kRefusalMarker, and the runtime requires both:
// the record proves a refusal happened on this thread during the batch, the marker that the
// error being handled carries it (libtorch catches some OOMs itself and recovers, e.g. cuDNN's
// workspace fallback; a later, unrelated model error in the same batch must not read as OOM).
// Limits: a refusal on one of libtorch's intra-op worker threads (intra_op_threads > 1) is
// recorded on that thread, and libtorch's own allocators (--cpu-allocator=default,
// --cuda-allocator=default) record nothing; inside a scripted forward such an OOM then comes out
// as a plain error, INTERNAL. It is still bisected like any model error, so the batch-mates are
// served; only the lone request's code differs (INTERNAL, not RESOURCE_EXHAUSTED).
//
// Header-only and plain C++ so that both memory/ (the adapters) and runtime/ (the executor's
// libtorch runner) use it without linking each other. Thread-safe: the record is thread-local.
#ifndef SEQSERVE_MEMORY_ALLOCATION_REFUSAL_H_
#define SEQSERVE_MEMORY_ALLOCATION_REFUSAL_H_

namespace seqserve::memory {

// First words of every out-of-memory message the pool's adapters throw.
inline constexpr char kRefusalMarker[] = "seqserve memory pool refused an allocation";

namespace internal {
inline thread_local bool allocation_refused = false;
}  // namespace internal

// Called by a pool adapter on the allocating thread just before it reports out-of-memory.
inline void NoteAllocationRefused() { internal::allocation_refused = true; }

// Whether an allocation was refused on this thread since the last call; clears the record.
inline bool TakeAllocationRefused() {
  const bool refused = internal::allocation_refused;
  internal::allocation_refused = false;
  return refused;
}

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_ALLOCATION_REFUSAL_H_
