#include "memory/caching_allocator.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "memory/allocation_scope.h"
#include "memory/size_classes.h"

namespace seqserve::memory {
namespace {

bool IsPowerOfTwo(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

absl::StatusOr<std::unique_ptr<CachingAllocator>> CachingAllocator::Create(Backend* backend, Options options) {
  if (backend == nullptr) return absl::InvalidArgumentError("CachingAllocator needs a backend");
  if (!IsPowerOfTwo(backend->alignment())) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend '", backend->name(), "' alignment ", backend->alignment(), " is not a power of two"));
  }
  if (const size_t g = backend->decommit_granularity(); g != 0 && !IsPowerOfTwo(g)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend '", backend->name(), "' decommit granularity ", g, " is not a power of two"));
  }
  if (options.large_segment_bytes < kLargeSegmentRounding || options.large_segment_bytes % kLargeSegmentRounding != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("large_segment_bytes ", options.large_segment_bytes, " must be a positive multiple of 2 MiB"));
  }
  if (options.max_split_size < options.large_segment_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_split_size ", options.max_split_size,
                                                   " is below the large segment size (", options.large_segment_bytes,
                                                   " bytes): ordinary large segments could then never be split"));
  }
  // Note [max_split_size rounding]: large segments are multiples of 2 MiB. With a limit that is
  // not, say 21 MiB, a 21 MiB request would get a 22 MiB segment that is oversize for the very
  // request size it was made for, so each such request would need a new segment. Rounding the
  // limit up makes every segment of a request <= the limit itself <= the limit.
  if (options.max_split_size <= kMaxRequestSize) {
    options.max_split_size = RoundUp(options.max_split_size, kLargeSegmentRounding);
  }
  return std::unique_ptr<CachingAllocator>(new CachingAllocator(backend, options));
}

CachingAllocator::CachingAllocator(Backend* backend, Options options)
    : backend_(backend),
      options_(options),
      expandable_(options.expandable_segments && backend->can_grow_in_place()),
      decommit_granularity_(options.decommit_free_pages ? backend->decommit_granularity() : 0),
      capacity_bytes_(options.capacity_bytes) {}

void CachingAllocator::SetCapacity(size_t bytes) {
  MutexLock lock(&mu_);
  capacity_bytes_ = bytes;
  if (bytes != 0 && counters_.reserved_bytes > bytes) {
    ReleaseCachedSegmentsLocked(counters_.reserved_bytes - bytes);
  }
}

size_t CachingAllocator::capacity() const {
  MutexLock lock(&mu_);
  return capacity_bytes_;
}

CachingAllocator::~CachingAllocator() {
  MutexLock lock(&mu_);
  for (const PendingEvent& p : pending_) backend_->ReleaseEvent(p.event);
  for (const auto& [base, segment] : segments_) {
    backend_->Free(const_cast<char*>(base), segment.size);
  }
}

// Allocation ------------------------------------------------------------------------------------

absl::StatusOr<void*> CachingAllocator::Allocate(size_t bytes, StreamId stream) {
  if (bytes == 0) return nullptr;  // Note [zero-size requests] (caching_allocator.h)
  MutexLock lock(&mu_);
  if (!pending_.empty()) ProcessEventsLocked();
  if (bytes > kMaxRequestSize) {
    ++counters_.oom_count;
    return OutOfMemoryLocked(bytes, bytes, stream, "larger than any request the pool accepts");
  }
  const size_t size = RoundRequest(bytes);
  // With expandable segments one arena per stream serves every size (Note [expandable segments]).
  const bool small = IsSmallRequest(size) && !expandable_;
  FreeBlocks::node_type node;
  FreeBlocks& free_list = small ? small_free_ : large_free_;
  Block* block = TakeFreeBlockLocked(free_list, stream, size, node);
  if (block == nullptr) block = AdoptIdleSegmentLocked(free_list, stream, size, node);
  if (block != nullptr) {
    ++counters_.cache_hits;
  } else if (expandable_ && (block = GrowExpandableSegmentLocked(stream, size, node)) != nullptr) {
    ++counters_.cache_misses;
  } else {
    ++counters_.cache_misses;
    absl::StatusOr<Block*> fresh = NewSegmentLocked(bytes, size, stream, small);
    if (!fresh.ok()) {
      ++counters_.oom_count;
      return fresh.status();
    }
    block = *fresh;
  }
  MaybeSplitLocked(block, size, std::move(node));
  // Split first, so that the footprint ceiling may give back the remainder's pages.
  if (block->decommitted != 0) {
    const absl::Status committed = RecommitLocked(block, bytes, size, stream);
    if (!committed.ok()) {
      ReleaseBlockLocked(block);  // merges back with the remainder
      ++counters_.oom_count;
      return committed;
    }
  }

  block->state = BlockState::kLive;
  block->requested = bytes;
  live_.emplace(block->ptr, block);
  counters_.allocated_bytes += block->size;
  counters_.requested_bytes += bytes;
  ++counters_.live_blocks;
  counters_.peak_allocated_bytes = std::max(counters_.peak_allocated_bytes, counters_.allocated_bytes);
  AllocationScope::Charge(block->size);
  // Note [tracing cost]: with no sink this is the only cost of tracing: one predictable branch.
  // The clock is read only when a sink is present.
  if (options_.trace_sink != nullptr) TraceLocked(TraceOp::kAlloc, block);
  return static_cast<void*>(block->ptr);
}

Block* CachingAllocator::TakeFreeBlockLocked(FreeBlocks& free_list, StreamId stream, size_t size,
                                             FreeBlocks::node_type& node) {
  // Note [stream ownership]: only blocks of the caller's stream are candidates. Work on one
  // stream runs in queue order, so memory freed on stream S and handed out again on S cannot be
  // touched by the new owner before the old owner's queued work is done. On another stream
  // there is no such order; that reuse waits for EmptyCache or the budget path to release the
  // whole segment (or for events, Note [record_stream events]).
  const auto it = free_list.lower_bound(BlockKey{stream, size, 0});
  if (it == free_list.end() || (*it)->stream != stream) return nullptr;
  Block* block = *it;
  // Blocks after `it` are larger, so a block refused here is refused for them too.
  if (!FitsWithoutWasteLocked(block, size)) return nullptr;
  node = free_list.extract(it);
  counters_.cached_free_bytes -= CommittedBytes(block);
  return block;
}

bool CachingAllocator::FitsWithoutWasteLocked(const Block* block, size_t size) const {
  // Note [oversize blocks] (size_classes.h): (a) and (b).
  if (block->size <= options_.max_split_size) return true;
  return size > options_.max_split_size && block->size - size < options_.large_segment_bytes;
}

Block* CachingAllocator::AdoptIdleSegmentLocked(FreeBlocks& free_list, StreamId stream, size_t size,
                                                FreeBlocks::node_type& node) {
  // Note [adopting idle segments]: with one stream per model instance, each stream caches the
  // segments of its own peak, and the pool holds the sum of the streams' peaks although they
  // rarely coincide: on an H100, two instances serving the encoder reserved 2.3x their peak live
  // bytes (libtorch's allocator, with the same per-stream rule, 2.2x). A segment that is wholly
  // free is idle on its stream; before asking the backend for a new one, a miss on stream S takes
  // the best-fitting idle segment of another stream T, after making S wait for an event recorded
  // on T now (Backend::StreamWaitEvent: the device orders it, the host does not block), so S
  // cannot touch the memory before T's queued work on it is done. Misses are rare (about 0.3 per
  // 1,000 allocations on the encoder's trace), so the scan over the free list costs nothing on
  // the cached path, and the only price is S waiting for T's already-queued work, once.
  Block* best = nullptr;
  for (Block* candidate : free_list) {
    if (candidate->stream == stream || candidate->prev != nullptr || candidate->next != nullptr) continue;
    if (candidate->size < size || !FitsWithoutWasteLocked(candidate, size)) continue;
    if (best == nullptr || candidate->size < best->size) best = candidate;
  }
  if (best == nullptr) return nullptr;
  node = ExtractFreeLocked(best);
  const EventId event = backend_->RecordEvent(best->stream);
  backend_->StreamWaitEvent(stream, event);
  backend_->ReleaseEvent(event);
  best->stream = stream;
  segments_[best->ptr].stream = stream;
  ++counters_.segments_adopted;
  return best;
}

void CachingAllocator::MaybeSplitLocked(Block* block, size_t size, FreeBlocks::node_type node) {
  // In an arena every remainder can serve a later request of some size, and splitting it keeps
  // it reusable (Note [expandable segments]); elsewhere Note [split thresholds] applies.
  if (!ShouldSplit(block->size, size, block->small || expandable_, options_.max_split_size)) return;
  Block* rest = NewBlockLocked();
  rest->ptr = block->ptr + size;
  rest->size = block->size - size;
  rest->stream = block->stream;
  rest->small = block->small;
  if (block->decommitted != 0) {
    // Decommitted pages from the remainder's first whole page up are the remainder's; a range
    // across that page boundary is cut there. (A page holding the end of the kept part stays
    // with it: the caller commits it.)
    const size_t before = block->decommitted;
    char* const boundary = RoundUpPtr(rest->ptr, decommit_granularity_);
    auto it = decommitted_.lower_bound(boundary);
    if (it != decommitted_.begin()) {
      const auto below = std::prev(it);
      if (below->first + below->second > boundary) {
        const size_t upper = static_cast<size_t>(below->first + below->second - boundary);
        below->second -= upper;
        it = decommitted_.emplace_hint(it, boundary, upper);
      }
    }
    block->decommitted = 0;  // the kept part's ranges: those below `it` (usually none or one)
    for (auto k = decommitted_.lower_bound(RoundDownPtr(block->ptr, decommit_granularity_)); k != it; ++k) {
      block->decommitted += k->second;
    }
    rest->decommitted = before - block->decommitted;
  }
  rest->prev = block;
  rest->next = block->next;
  if (rest->next != nullptr) rest->next->prev = rest;
  block->next = rest;
  block->size = size;
  InsertFreeLocked(rest, std::move(node));
}

Block* CachingAllocator::GrowExpandableSegmentLocked(StreamId stream, size_t size, FreeBlocks::node_type& node) {
  auto segment = segments_.begin();
  while (segment != segments_.end() && !(segment->second.expandable && segment->second.stream == stream)) ++segment;
  if (segment == segments_.end()) return nullptr;
  char* const base = const_cast<char*>(segment->first);
  Segment& info = segment->second;
  // The last block of the segment. No index points at it; growing is a miss, which is rare, so
  // a scan of the block storage (O(blocks)) is cheaper than keeping a tail pointer right through
  // every split and merge.
  Block* tail = nullptr;
  for (Block& b : block_storage_) {
    if (b.ptr >= base && b.ptr < base + info.size && b.next == nullptr) {
      tail = &b;
      break;
    }
  }
  if (tail == nullptr) return nullptr;
  const bool tail_free = tail->state == BlockState::kFree;
  const size_t grow = RoundUp(tail_free ? size - std::min(size, tail->size) : size, kExpandableGrowth);
  if (grow == 0) return nullptr;
  MakeRoomLocked(grow, tail_free ? tail : nullptr);
  if (capacity_bytes_ != 0 && counters_.reserved_bytes + grow > capacity_bytes_) return nullptr;
  if (!backend_->GrowInPlace(base, info.size, info.size + grow)) return nullptr;
  info.size += grow;
  ++counters_.backend_grows;
  AddReservedLocked(grow);
  if (tail_free) {
    node = ExtractFreeLocked(tail);
    tail->size += grow;
    return tail;
  }
  Block* block = NewBlockLocked();
  block->ptr = tail->ptr + tail->size;
  block->size = grow;
  block->stream = stream;
  block->small = false;
  block->prev = tail;
  tail->next = block;
  return block;
}

absl::StatusOr<Block*> CachingAllocator::NewSegmentLocked(size_t bytes, size_t size, StreamId stream, bool small) {
  // Note [shrinking under a budget]: the preferred segment (20 MiB for a 2 MiB request) buys
  // fewer backend calls, not the ability to serve this request. When the budget or the backend
  // cannot give it even after the cache was released, the pool asks for the smallest segment
  // that serves the request (2 MiB-rounded) before reporting RESOURCE_EXHAUSTED, so a pod near
  // its limit degrades into more backend calls instead of failing requests that fit.
  // An expandable segment starts at the size it needs and grows later (Note [expandable
  // segments]); only one per stream, so a second one is made only when the first cannot grow.
  bool expandable = false;
  if (expandable_) {
    expandable = std::none_of(segments_.begin(), segments_.end(), [&](const auto& entry) {
      return entry.second.expandable && entry.second.stream == stream;
    });
  }
  const size_t preferred =
      expandable ? RoundUp(size, kExpandableGrowth) : SegmentSizeFor(size, options_.large_segment_bytes);
  const size_t minimum = MinSegmentSizeFor(size);
  const size_t capacity = capacity_bytes_;
  auto fits = [&](size_t segment) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return capacity == 0 || (counters_.reserved_bytes <= capacity && segment <= capacity - counters_.reserved_bytes);
  };

  size_t segment = preferred;
  if (options_.release_idle_before_growing) ReleaseCachedSegmentsLocked(kReleaseAll);
  MakeRoomLocked(segment, nullptr);
  if (!fits(segment)) {
    // Note [capacity budget release]: release only what is needed, preferring one segment that
    // covers the shortfall, so a pool near its budget does not throw away its whole cache (and
    // pay the backend again) for every miss.
    ReleaseCachedSegmentsLocked(counters_.reserved_bytes + segment - capacity);
    if (!fits(segment)) segment = minimum;
    if (!fits(segment)) {
      return OutOfMemoryLocked(
          bytes, size, stream,
          absl::StrCat("a new segment of ", FormatBytes(segment), " would exceed the pool's capacity budget"));
    }
  }

  absl::StatusOr<void*> memory = backend_->Allocate(segment);
  if (!memory.ok()) {
    // Note [backend failure]: the backend may be short because this pool caches memory
    // that other streams cannot reuse (or, on a shared device, that others need); release
    // every fully free segment and retry once, then once more at the minimum size.
    ++counters_.backend_failures;
    const uint64_t segments_before = counters_.segments;
    ReleaseCachedSegmentsLocked(kReleaseAll);
    if (counters_.segments < segments_before) {
      memory = backend_->Allocate(segment);
      if (!memory.ok()) ++counters_.backend_failures;
    }
    if (!memory.ok() && minimum < segment) {
      segment = minimum;
      memory = backend_->Allocate(segment);
      if (!memory.ok()) ++counters_.backend_failures;
    }
    if (!memory.ok()) {
      return OutOfMemoryLocked(bytes, size, stream,
                               absl::StrCat("backend '", backend_->name(), "' could not allocate ",
                                            FormatBytes(segment), ": ", memory.status().message()));
    }
  }

  Block* block = NewBlockLocked();
  block->ptr = static_cast<char*>(*memory);
  block->size = segment;
  block->stream = stream;
  block->small = small;
  segments_.emplace(block->ptr, Segment{segment, stream, small, expandable});
  ++counters_.segments;
  ++counters_.backend_allocations;
  AddReservedLocked(segment);
  return block;
}

void CachingAllocator::AddReservedLocked(size_t bytes) {
  counters_.reserved_bytes += bytes;
  counters_.peak_reserved_bytes = std::max(counters_.peak_reserved_bytes, counters_.reserved_bytes);
  high_water_bytes_ = std::max(high_water_bytes_, counters_.reserved_bytes);
}

absl::Status CachingAllocator::OutOfMemoryLocked(size_t bytes, size_t size, StreamId stream,
                                                 const std::string& reason) const {
  const std::string budget = capacity_bytes_ == 0 ? std::string("unlimited") : FormatBytes(capacity_bytes_);
  return absl::ResourceExhaustedError(absl::StrCat(
      "memory pool (", backend_->name(), ") out of memory: requested ", FormatBytes(bytes), " (block of ", size,
      " bytes) on stream ", stream, ": ", reason, "; reserved ", FormatBytes(counters_.reserved_bytes), ", allocated ",
      FormatBytes(counters_.allocated_bytes), ", cached free ", FormatBytes(counters_.cached_free_bytes),
      ", pending free ", FormatBytes(counters_.pending_free_bytes), ", budget ", budget,
      ". Free memory no longer needed, use smaller batches, or raise the budget."));
}

// Free ------------------------------------------------------------------------------------------

absl::Status CachingAllocator::Free(void* ptr) {
  if (ptr == nullptr) return absl::OkStatus();  // Note [zero-size requests]
  MutexLock lock(&mu_);
  const auto it = live_.find(ptr);
  if (it == live_.end()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Free(%p): not a live allocation of this pool (freed twice, or not allocated here)", ptr));
  }
  Block* block = it->second;
  live_.erase(it);
  if (options_.trace_sink != nullptr) TraceLocked(TraceOp::kFree, block);
  counters_.allocated_bytes -= block->size;
  AllocationScope::Credit(block->size);
  counters_.requested_bytes -= block->requested;
  --counters_.live_blocks;
  block->requested = 0;
  if (!block->stream_uses.empty()) {
    DeferFreeLocked(block);
  } else {
    ReleaseBlockLocked(block);
  }
  return absl::OkStatus();
}

void CachingAllocator::ReleaseBlockLocked(Block* block) {
  // Note [coalescing]: merging with free neighbours at every free keeps the invariant "no two
  // adjacent free blocks", so a segment whose allocations have all ended is a single block: it
  // can serve any request up to its size and EmptyCache can return it. Only free blocks merge:
  // live and pending neighbours stay as they are.
  block->state = BlockState::kFree;
  FreeBlocks::node_type node;
  if (Block* prev = block->prev; prev != nullptr && prev->state == BlockState::kFree) {
    node = ExtractFreeLocked(prev);
    block->ptr = prev->ptr;
    block->size += prev->size;
    block->decommitted += prev->decommitted;
    block->prev = prev->prev;
    if (block->prev != nullptr) block->prev->next = block;
    RecycleBlockLocked(prev);
  }
  if (Block* next = block->next; next != nullptr && next->state == BlockState::kFree) {
    FreeBlocks::node_type next_node = ExtractFreeLocked(next);
    if (node.empty()) node = std::move(next_node);
    block->size += next->size;
    block->decommitted += next->decommitted;
    block->next = next->next;
    if (block->next != nullptr) block->next->prev = block;
    RecycleBlockLocked(next);
  }
  InsertFreeLocked(block, std::move(node));
}

// Note [free-list nodes]: a std::set allocates a node per insert and frees it per erase; on the
// cached path that would be two heap calls per Allocate+Free. A split reuses the node of the
// block it took (now holding the remainder) and a merge reuses the node of the neighbour it
// absorbed, via extract/insert of node handles, so the steady state allocates nothing.
void CachingAllocator::InsertFreeLocked(Block* block, FreeBlocks::node_type node) {
  FreeBlocks& free_list = FreeListFor(block);
  if (node.empty()) {
    free_list.insert(block);
  } else {
    node.value() = block;
    free_list.insert(std::move(node));
  }
  counters_.cached_free_bytes += CommittedBytes(block);
}

FreeBlocks::node_type CachingAllocator::ExtractFreeLocked(Block* block) {
  counters_.cached_free_bytes -= CommittedBytes(block);
  return FreeListFor(block).extract(block);
}

// Streams ---------------------------------------------------------------------------------------

absl::Status CachingAllocator::RecordStream(void* ptr, StreamId stream) {
  if (ptr == nullptr) return absl::OkStatus();
  MutexLock lock(&mu_);
  const auto it = live_.find(ptr);
  if (it == live_.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("RecordStream(%p): not a live allocation of this pool", ptr));
  }
  Block* block = it->second;
  if (stream == block->stream) return absl::OkStatus();
  if (std::find(block->stream_uses.begin(), block->stream_uses.end(), stream) == block->stream_uses.end()) {
    block->stream_uses.push_back(stream);
  }
  return absl::OkStatus();
}

void CachingAllocator::DeferFreeLocked(Block* block) {
  // Note [record_stream events]: a kernel queued on another stream may still read or write the
  // block after the owner freed it. The event recorded now on each such stream completes when
  // everything queued there so far has run; until all have, the block is neither free nor
  // live, and it cannot merge with its neighbours (so no request can be given it).
  block->state = BlockState::kPending;
  for (StreamId stream : block->stream_uses) {
    pending_.push_back(PendingEvent{backend_->RecordEvent(stream), block});
    ++block->pending_events;
  }
  block->stream_uses.clear();
  counters_.pending_free_bytes += block->size;
  ++counters_.pending_free_blocks;
}

void CachingAllocator::ProcessEventsLocked() {
  // Events are polled, not waited for: a pending block costs one EventCompleted call per
  // allocation until it is released. Pending blocks are few (record_stream is rare).
  size_t kept = 0;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const PendingEvent p = pending_[i];
    if (!backend_->EventCompleted(p.event)) {
      pending_[kept++] = p;
      continue;
    }
    backend_->ReleaseEvent(p.event);
    Block* block = p.block;
    if (--block->pending_events == 0) {
      counters_.pending_free_bytes -= block->size;
      --counters_.pending_free_blocks;
      ReleaseBlockLocked(block);  // merges only free blocks: other pending entries stay valid
    }
  }
  pending_.resize(kept);
}

// Releasing memory ------------------------------------------------------------------------------

size_t CachingAllocator::EmptyCache() {
  MutexLock lock(&mu_);
  if (!pending_.empty()) ProcessEventsLocked();
  return ReleaseCachedSegmentsLocked(kReleaseAll);
}

size_t CachingAllocator::ReleaseCachedSegmentsLocked(size_t needed) {
  std::vector<Block*> whole;
  for (const FreeBlocks* free_list : {&small_free_, &large_free_}) {
    for (Block* block : *free_list) {
      if (block->prev == nullptr && block->next == nullptr) whole.push_back(block);
    }
  }
  size_t released = 0;
  if (needed != kReleaseAll) {
    Block* best = nullptr;
    for (Block* block : whole) {
      if (CommittedBytes(block) >= needed && (best == nullptr || CommittedBytes(block) < CommittedBytes(best))) {
        best = block;
      }
    }
    if (best != nullptr) {
      released = CommittedBytes(best);
      ReleaseSegmentLocked(best);
      return released;
    }
    std::sort(whole.begin(), whole.end(),
              [](const Block* a, const Block* b) { return CommittedBytes(a) > CommittedBytes(b); });
  }
  for (Block* block : whole) {
    if (needed != kReleaseAll && released >= needed) break;
    released += CommittedBytes(block);
    ReleaseSegmentLocked(block);
  }
  return released;
}

void CachingAllocator::ReleaseSegmentLocked(Block* block) {
  ExtractFreeLocked(block);
  backend_->Free(block->ptr, block->size);
  segments_.erase(block->ptr);
  if (block->decommitted != 0) {
    decommitted_.erase(decommitted_.lower_bound(block->ptr), decommitted_.lower_bound(block->ptr + block->size));
    counters_.decommitted_bytes -= block->decommitted;
  }
  counters_.reserved_bytes -= CommittedBytes(block);
  --counters_.segments;
  ++counters_.backend_frees;
  RecycleBlockLocked(block);
}

// Blocks ----------------------------------------------------------------------------------------

Block* CachingAllocator::NewBlockLocked() {
  if (spare_blocks_.empty()) return &block_storage_.emplace_back();
  Block* block = spare_blocks_.back();
  spare_blocks_.pop_back();
  return block;
}

void CachingAllocator::RecycleBlockLocked(Block* block) {
  std::vector<StreamId> uses = std::move(block->stream_uses);
  uses.clear();
  *block = Block{};
  block->stream_uses = std::move(uses);  // keeps its capacity
  spare_blocks_.push_back(block);
}

// Introspection ---------------------------------------------------------------------------------

absl::StatusOr<size_t> CachingAllocator::BlockSize(const void* ptr) const {
  MutexLock lock(&mu_);
  const auto it = live_.find(ptr);
  if (it == live_.end()) {
    return absl::InvalidArgumentError(absl::StrFormat("BlockSize(%p): not a live allocation of this pool", ptr));
  }
  return it->second->size;
}

void CachingAllocator::TraceLocked(TraceOp op, const Block* block) const {
  TraceEvent event;
  event.op = op;
  event.size = block->requested;
  event.address = reinterpret_cast<uintptr_t>(block->ptr);
  event.stream = block->stream;
  event.time_ns = MonotonicNowNs();
  options_.trace_sink->Record(event);
}

namespace {

// The largest block of a free list: the last block of each stream's run, found by jumping from
// the end of one run to the start of the previous (O(streams x log blocks)).
size_t LargestFreeBlock(const FreeBlocks& free_list) {
  size_t largest = 0;
  auto it = free_list.end();
  while (it != free_list.begin()) {
    --it;
    largest = std::max(largest, (*it)->size);
    it = free_list.lower_bound(BlockKey{(*it)->stream, 0, 0});
  }
  return largest;
}

}  // namespace

PoolStats CachingAllocator::StatsLocked() const {
  PoolStats s = counters_;
  s.free_blocks = small_free_.size() + large_free_.size();
  s.largest_free_block = std::max(LargestFreeBlock(small_free_), LargestFreeBlock(large_free_));
  const uint64_t free_space = s.cached_free_bytes + s.decommitted_bytes;
  s.fragmentation =
      free_space == 0 ? 0.0 : 1.0 - static_cast<double>(s.largest_free_block) / static_cast<double>(free_space);
  s.overhead =
      s.allocated_bytes == 0 ? 0.0 : static_cast<double>(s.reserved_bytes) / static_cast<double>(s.allocated_bytes);
  const uint64_t lookups = s.cache_hits + s.cache_misses;
  s.hit_rate = lookups == 0 ? 0.0 : static_cast<double>(s.cache_hits) / static_cast<double>(lookups);
  return s;
}

PoolStats CachingAllocator::stats() const {
  MutexLock lock(&mu_);
  return StatsLocked();
}

void CachingAllocator::ResetPeaks() {
  MutexLock lock(&mu_);
  counters_.peak_reserved_bytes = counters_.reserved_bytes;
  counters_.peak_allocated_bytes = counters_.allocated_bytes;
}

}  // namespace seqserve::memory
