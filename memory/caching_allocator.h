// CachingAllocator: a memory pool over a Backend that keeps freed memory for reuse, so steady
// traffic allocates from its own free lists instead of calling the backend (cudaMalloc or the
// host allocator) for every tensor.
//
// How it serves a request
// -----------------------
//   1. The request is rounded up to a multiple of 512 bytes (size_classes.h). Requests of at
//      most 1 MiB go to the small pool, larger ones to the large pool.
//   2. Best fit: the pool's free list, ordered by (stream, size, address), gives the smallest
//      free block of the caller's stream that fits (lowest address among equals). If the block
//      is larger than needed and the remainder is worth keeping (>= 512 B in the small pool,
//      > 1 MiB in the large), it is split and the remainder stays free.
//   3. Otherwise a new segment is taken from the backend: 2 MiB for the small pool, max(request
//      rounded to 2 MiB, 20 MiB) for the large one. If that would exceed the capacity budget,
//      or the backend fails, cached fully-free segments are released first and the request is
//      retried, if need be with the smallest segment that serves it; if it still cannot be
//      served, Allocate fails with RESOURCE_EXHAUSTED (the pool stays usable).
// With Options::decommit_free_pages, memory the pool takes anew (step 3, or pages of a cached
// block that were given back) never lifts its footprint above its previous peak while free pages
// elsewhere could be given back first (Note [footprint ceiling] in footprint_ceiling.cc).
// Free returns the block to its free list and merges it with free neighbours in its segment
// (coalescing), so a segment whose blocks are all freed becomes one block again, ready for any
// size or for release by EmptyCache().
//
// Streams: a block belongs to the stream it was allocated on and is reused only by requests on
// that stream (work on one stream runs in order, so such reuse can never overlap the block's
// earlier use). If a block was also used on other streams (RecordStream), Free records an event
// on each of them and the block becomes reusable only once all those events have completed.
// A segment that is wholly free may move to another stream on a miss, behind a stream wait
// (Note [adopting idle segments]); so a stream must stay valid while the pool holds memory
// allocated on it (free it and EmptyCache() before destroying a stream; libtorch never destroys
// its streams).
//
// Note [zero-size requests]: Allocate(0) returns nullptr (an OK status,
// not an error) and touches nothing; Free(nullptr) and RecordStream(nullptr, s) are no-ops.
// This is what libtorch's own allocators do for empty tensors, and it avoids spending a
// 512-byte block on every empty tensor just to make its pointer unique.
//
// Per-thread accounting: each allocation is charged, each free credited, to the AllocationScope
// open on the calling thread (memory/allocation_scope.h), which is how one batch's peak is seen.
//
// Thread-safety: thread-safe; one mutex guards all state (every public method takes it). The
// backend and the trace sink are called with it held.
//
// Implementation: caching_allocator.cc (allocation, free, streams, release, statistics),
// footprint_ceiling.cc (decommitting), caching_allocator_invariants.cc (CheckInvariants).
#ifndef SEQSERVE_MEMORY_CACHING_ALLOCATOR_H_
#define SEQSERVE_MEMORY_CACHING_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/allocator_options.h"
#include "memory/backend.h"
#include "memory/block.h"
#include "memory/mutex.h"
#include "memory/pool_stats.h"
#include "memory/trace.h"

namespace seqserve::memory {

class CachingAllocator {
 public:
  using Options = CachingAllocatorOptions;

  // A pool over `backend` (not owned; must outlive the pool). INVALID_ARGUMENT when the backend
  // is null or its alignment is not a power of two, or an option is out of range.
  static absl::StatusOr<std::unique_ptr<CachingAllocator>> Create(Backend* backend, Options options = {});

  // Returns every segment to the backend. All allocations must have been freed, and the work
  // of every stream that used them finished, before the pool is destroyed.
  ~CachingAllocator();

  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // At least `bytes` bytes for use on `stream`, aligned to min(backend alignment, 512).
  // nullptr for 0 bytes (Note [zero-size requests]). RESOURCE_EXHAUSTED when neither the cache,
  // the budget nor the backend can provide it; the message gives the requested, reserved and
  // allocated bytes and the budget.
  absl::StatusOr<void*> Allocate(size_t bytes, StreamId stream = kDefaultStream);

  // Ends the allocation at `ptr` (nullptr: no-op). INVALID_ARGUMENT if `ptr` is not a live
  // allocation of this pool (double free, or memory from elsewhere); nothing changes then.
  absl::Status Free(void* ptr);

  // Declares that the allocation at `ptr` is used by work on `stream` as well, so that Free
  // holds it back until that work has finished (like torch's Tensor.record_stream). The
  // owning stream itself needs no record. INVALID_ARGUMENT if `ptr` is not live.
  absl::Status RecordStream(void* ptr, StreamId stream);

  // Returns every fully free segment to the backend (after collecting completed stream
  // events); the bytes of memory released (decommitted pages of those segments not counted). Segments with live or
  // pending blocks stay.
  size_t EmptyCache();

  // With Options::decommit_free_pages: decommits every whole free page of the segments that
  // still hold live blocks (the ones EmptyCache() cannot release), as the footprint ceiling does
  // on demand; the pages are committed again when reused. The bytes decommitted; 0 without the
  // option. For after a large release, e.g. a model version unloaded (server/main.cc).
  size_t DecommitFreePages();

  // The block size behind a live allocation (>= the request rounded to 512 B).
  absl::StatusOr<size_t> BlockSize(const void* ptr) const;

  // A consistent snapshot, O(number of streams with free blocks).
  PoolStats stats() const;

  // Changes the capacity budget (Options::capacity_bytes; 0: unlimited). Below what the pool
  // reserves now, cached free segments are returned until it fits (if they suffice); live
  // memory stays, and the pool grows no more until it is back under the budget.
  void SetCapacity(size_t bytes);
  size_t capacity() const;

  // Sets peak_reserved_bytes and peak_allocated_bytes to the current values.
  void ResetPeaks();

  // For tests: verifies the pool's structure and its counters against a full recount
  // (allocated <= reserved; free + live + pending == reserved; segments == reserved +
  // decommitted; each segment tiled exactly by its blocks; no two adjacent free blocks; every
  // block in exactly one state; decommitted pages only inside free blocks; stats match).
  // INTERNAL naming the first violation. O(blocks).
  absl::Status CheckInvariants() const;

  // The options at creation (capacity_bytes may have changed since: capacity()).
  const Options& options() const { return options_; }
  Backend* backend() const { return backend_; }

 private:
  struct Segment {
    size_t size = 0;
    StreamId stream = kDefaultStream;
    bool small = false;
    bool expandable = false;  // grows in place (Note [expandable segments])
  };
  struct PendingEvent {
    EventId event;
    Block* block;
  };

  CachingAllocator(Backend* backend, Options options);

  // All *Locked methods require mu_.
  FreeBlocks& FreeListFor(const Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return block->small ? small_free_ : large_free_;
  }
  // Removes and returns the best-fitting free block (nullptr if none); `node` keeps its set
  // node for reuse (Note [free-list nodes]).
  Block* TakeFreeBlockLocked(FreeBlocks& free_list, StreamId stream, size_t size, FreeBlocks::node_type& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // On a miss: a wholly free segment of another stream that fits, handed to `stream` behind a
  // stream wait (Note [adopting idle segments]); nullptr if none.
  Block* AdoptIdleSegmentLocked(FreeBlocks& free_list, StreamId stream, size_t size, FreeBlocks::node_type& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `block` (free, `size` wanted) may serve the request; Note [oversize blocks].
  bool FitsWithoutWasteLocked(const Block* block, size_t size) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Splits `block` to `size` when worthwhile, the remainder going to the free list.
  void MaybeSplitLocked(Block* block, size_t size, FreeBlocks::node_type node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `block` free, merges it with free neighbours and inserts the result.
  void ReleaseBlockLocked(Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertFreeLocked(Block* block, FreeBlocks::node_type node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  FreeBlocks::node_type ExtractFreeLocked(Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records events for `block`'s other streams and parks it until they complete.
  void DeferFreeLocked(Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees the pending blocks whose events have all completed.
  void ProcessEventsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Grows `stream`'s expandable segment so that its last block can serve `size`, and returns
  // that block (out of the free list, its node in `node`); nullptr when there is no such
  // segment, the budget or the backend refuses.
  Block* GrowExpandableSegmentLocked(StreamId stream, size_t size, FreeBlocks::node_type& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Note [footprint ceiling]. Before the pool takes `bytes` more from the backend: decommits
  // free pages (never those of `exclude`), largest free blocks first, until the footprint plus
  // `bytes` is within its high-water mark or nothing is left to give back.
  void MakeRoomLocked(size_t bytes, const Block* exclude) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Decommits up to `wanted` bytes (rounded up to pages) of free `block`'s committed whole
  // pages, from its top down; the bytes decommitted.
  size_t DecommitLocked(Block* block, size_t wanted) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits the decommitted pages of `block` (split, out of the free lists, about to be handed
  // out for a `bytes` request rounded to `size`). RESOURCE_EXHAUSTED when the budget or the
  // backend refuses (the pages committed so far stay committed).
  absl::Status RecommitLocked(Block* block, size_t bytes, size_t size, StreamId stream)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a decommitted range of a free block whose whole pages are [lo, hi), merged with a
  // range of the same block that touches it.
  void AddDecommittedRangeLocked(char* start, size_t bytes, char* lo, char* hi) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts `bytes` more taken from the backend (reserved, its peak, the high-water mark).
  void AddReservedLocked(size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A free block's bytes that are backed by memory.
  static size_t CommittedBytes(const Block* block) { return block->size - block->decommitted; }
  // A fresh segment for a `size` request on `stream`, as one free block (not in a free list).
  absl::StatusOr<Block*> NewSegmentLocked(size_t bytes, size_t size, StreamId stream, bool small)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns fully free segments to the backend: the smallest one that covers `needed` bytes if
  // any, else largest first until `needed` is covered or none is left. kReleaseAll: all.
  size_t ReleaseCachedSegmentsLocked(size_t needed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSegmentLocked(Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status OutOfMemoryLocked(size_t bytes, size_t size, StreamId stream, const std::string& reason) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TraceLocked(TraceOp op, const Block* block) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PoolStats StatsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Block* NewBlockLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecycleBlockLocked(Block* block) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  static constexpr size_t kReleaseAll = ~size_t{0};

  Backend* const backend_;
  const Options options_;
  // options_.expandable_segments, where the backend can grow segments in place.
  const bool expandable_;
  // The backend's decommit granularity with options_.decommit_free_pages; 0: never decommit.
  const size_t decommit_granularity_;

  mutable Mutex mu_;
  FreeBlocks small_free_ ABSL_GUARDED_BY(mu_);
  FreeBlocks large_free_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, Block*> live_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingEvent> pending_ ABSL_GUARDED_BY(mu_);
  std::map<const char*, Segment> segments_ ABSL_GUARDED_BY(mu_);  // by base address
  std::deque<Block> block_storage_ ABSL_GUARDED_BY(mu_);          // owns every Block; addresses are stable
  std::vector<Block*> spare_blocks_ ABSL_GUARDED_BY(mu_);         // recycled, in block_storage_
  // Decommitted page ranges (start -> bytes), each inside one free block (Note [footprint
  // ceiling]), and the highest footprint so far (unlike peak_reserved_bytes, ResetPeaks leaves
  // it alone).
  std::map<char*, size_t> decommitted_ ABSL_GUARDED_BY(mu_);
  uint64_t high_water_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Block*> decommit_candidates_ ABSL_GUARDED_BY(mu_);  // MakeRoomLocked's scratch space
  size_t capacity_bytes_ ABSL_GUARDED_BY(mu_);                    // Options::capacity_bytes, changed by SetCapacity
  PoolStats counters_ ABSL_GUARDED_BY(mu_);  // the fields maintained incrementally; StatsLocked() adds the rest
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_CACHING_ALLOCATOR_H_
