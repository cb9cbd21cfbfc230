#include "memory/torch_cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <string>

#include "memory/allocation_refusal.h"
#include "memory/host_backend.h"
#include "memory/trace.h"

namespace seqserve::memory {
namespace {

// The installed pool. The deleter libtorch calls is a plain function pointer, so it finds the
// pool here; set once, never cleared.
std::atomic<CachingAllocator*> g_pool{nullptr};
FileTraceWriter* g_trace = nullptr;  // set at install, when tracing

void DeletePooled(void* ptr) {
  // Free only fails for pointers the pool does not own, which would be a bug in this adapter.
  (void)g_pool.load(std::memory_order_acquire)->Free(ptr);
}

class PoolCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) override {
    CachingAllocator* pool = g_pool.load(std::memory_order_acquire);
    absl::StatusOr<void*> ptr = pool->Allocate(bytes);
    if (!ptr.ok()) {
      NoteAllocationRefused();  // Note [OOM by type] in memory/allocation_refusal.h
      TORCH_CHECK_WITH(OutOfMemoryError, false, kRefusalMarker,
                       " (CPU, out of memory): ", std::string(ptr.status().message()));
    }
    return {*ptr, *ptr, &DeletePooled, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &DeletePooled; }
  void copy_data(void* dest, const void* src, size_t count) const override { default_copy_data(dest, src, count); }
};

}  // namespace

absl::StatusOr<CachingAllocator*> InstallTorchCpuPool(const TorchCpuPoolOptions& options) {
  if (g_pool.load() != nullptr) return absl::FailedPreconditionError("the CPU pool is already installed");
  // Note [pool lifetime]: backend, pool and adapter are deliberately leaked: libtorch may free
  // tensors during static destruction, after main returns.
  auto* backend = new HostBackend(/*alignment=*/64);  // libtorch's CPU alignment (c10::gAlignment)
  CachingAllocatorOptions pool_options;
  pool_options.capacity_bytes = options.capacity_bytes;
  pool_options.expandable_segments = options.expandable_segments;
  pool_options.decommit_free_pages = options.decommit_free_pages;
  if (!options.trace_path.empty()) {
    absl::StatusOr<std::unique_ptr<FileTraceWriter>> trace = FileTraceWriter::Open(options.trace_path);
    if (!trace.ok()) return trace.status();
    g_trace = trace->release();
    pool_options.trace_sink = g_trace;
  }
  absl::StatusOr<std::unique_ptr<CachingAllocator>> pool = CachingAllocator::Create(backend, pool_options);
  if (!pool.ok()) return pool.status();
  g_pool.store(pool->release(), std::memory_order_release);
  static auto* adapter = new PoolCpuAllocator();
  // Priority above libtorch's default CPU allocator (0), so later default registrations do not win.
  c10::SetAllocator(c10::DeviceType::CPU, adapter, /*priority=*/10);
  return g_pool.load();
}

absl::Status CloseTorchCpuPoolTrace() { return g_trace != nullptr ? g_trace->Close() : absl::OkStatus(); }

}  // namespace seqserve::memory
