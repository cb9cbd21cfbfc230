// CachingAllocator's footprint ceiling (Options::decommit_free_pages): giving free pages back to
// the backend before taking memory beyond the pool's previous peak, and taking them back when a
// cached block that holds them is handed out. Part of CachingAllocator (caching_allocator.h);
// every function here requires the pool's lock.
#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "memory/caching_allocator.h"
#include "memory/size_classes.h"

namespace seqserve::memory {

// Note [footprint ceiling]: a pool that never moves memory leaves holes between live blocks, and at
// the moment of the live peak they are memory held but unusable: on the encoder's recorded trace
// the expandable arena holds 1.076x the 33.6 MiB live. No placement rule tried in simulation
// closed them without knowing the future (benchmarks/RESULTS.md). But a hole's memory can go
// back to the system while its addresses stay in the segment. So whenever the pool is about
// to take memory beyond its high-water mark (growing or creating a segment, or recommitting
// given-back pages of a cached block), it first decommits free whole pages, from the free blocks
// with the most committed whole pages down and only as many as it is short. The footprint then
// passes its old peak only when the free blocks have nothing left to give but partial pages: peak
// footprint <= peak (live + pending) + two pages per free block + one growth step (64 KiB with
// expandable segments; without them, the slack of one new segment), unless the backend refused a
// Decommit. On that trace 1.076 -> 1.000x, the extra backend calls almost all in warm-up and
// server throughput within noise (benchmarks/RESULTS.md). Why only at the high-water mark and not
// at every free: a free that gave pages back would make every reuse fault them in again (the 4-8
// MiB activations of every layer); below the mark nothing is decommitted, and steady traffic runs
// on committed memory exactly as before.
void CachingAllocator::MakeRoomLocked(size_t bytes, const Block* exclude) {
  if (decommit_granularity_ == 0 || counters_.reserved_bytes + bytes <= high_water_bytes_) return;
  size_t excess = counters_.reserved_bytes + bytes - high_water_bytes_;
  const size_t g = decommit_granularity_;
  auto committed_pages = [g](const Block* b) -> size_t {
    char* const lo = RoundUpPtr(b->ptr, g);
    char* const hi = RoundDownPtr(b->ptr + b->size, g);
    return hi > lo ? static_cast<size_t>(hi - lo) - b->decommitted : 0;
  };
  decommit_candidates_.clear();
  for (const FreeBlocks* free_list : {&small_free_, &large_free_}) {
    for (Block* b : *free_list) {
      if (b != exclude && committed_pages(b) != 0) decommit_candidates_.push_back(b);
    }
  }
  std::sort(decommit_candidates_.begin(), decommit_candidates_.end(),
            [&](const Block* a, const Block* b) { return committed_pages(a) > committed_pages(b); });
  for (Block* b : decommit_candidates_) {
    if (excess == 0) break;
    excess -= std::min(excess, DecommitLocked(b, excess));
  }
}

size_t CachingAllocator::DecommitFreePages() {
  MutexLock lock(&mu_);
  if (decommit_granularity_ == 0) return 0;
  if (!pending_.empty()) ProcessEventsLocked();
  size_t done = 0;
  for (FreeBlocks* free_list : {&small_free_, &large_free_}) {
    for (Block* block : *free_list) done += DecommitLocked(block, CommittedBytes(block));
  }
  return done;
}

size_t CachingAllocator::DecommitLocked(Block* block, size_t wanted) {
  const size_t g = decommit_granularity_;
  char* const lo = RoundUpPtr(block->ptr, g);
  char* top = RoundDownPtr(block->ptr + block->size, g);
  size_t done = 0;
  // Walks the committed gaps between the block's decommitted ranges, from the top down.
  while (done < wanted && top > lo) {
    char* gap_bottom = lo;
    char* next_top = lo;
    if (auto above = decommitted_.lower_bound(top); above != decommitted_.begin()) {
      const auto below = std::prev(above);
      if (below->first >= lo) {
        gap_bottom = below->first + below->second;
        next_top = below->first;
      }
    }
    if (gap_bottom < top) {
      const size_t take = std::min(static_cast<size_t>(top - gap_bottom), RoundUp(wanted - done, g));
      if (!backend_->Decommit(top - take, take)) break;
      ++counters_.backend_decommits;
      AddDecommittedRangeLocked(top - take, take, lo, RoundDownPtr(block->ptr + block->size, g));
      done += take;
    }
    top = next_top;
  }
  block->decommitted += done;
  counters_.reserved_bytes -= done;
  counters_.cached_free_bytes -= done;
  counters_.decommitted_bytes += done;
  return done;
}

void CachingAllocator::AddDecommittedRangeLocked(char* start, size_t bytes, char* lo, char* hi) {
  // Only within the block: segments can be adjacent in the address space (a range of one must
  // never swallow the start of the next).
  if (const auto next = decommitted_.find(start + bytes); next != decommitted_.end() && next->first < hi) {
    bytes += next->second;
    decommitted_.erase(next);
  }
  if (auto it = decommitted_.lower_bound(start); it != decommitted_.begin()) {
    if (const auto prev = std::prev(it); prev->first >= lo && prev->first + prev->second == start) {
      prev->second += bytes;
      return;
    }
  }
  decommitted_.emplace(start, bytes);
}

absl::Status CachingAllocator::RecommitLocked(Block* block, size_t bytes, size_t size, StreamId stream) {
  const size_t g = decommit_granularity_;
  const size_t needed = block->decommitted;
  MakeRoomLocked(needed, block);
  if (capacity_bytes_ != 0 && counters_.reserved_bytes + needed > capacity_bytes_) {
    return OutOfMemoryLocked(bytes, size, stream,
                             absl::StrCat("taking back ", FormatBytes(needed),
                                          " of a cached block would exceed the pool's capacity budget"));
  }
  // The block's ranges lie whole between its first and last pages: MaybeSplitLocked cut any range
  // that reached into the remainder, and ranges never merge across blocks.
  char* const hi = RoundUpPtr(block->ptr + block->size, g);
  auto it = decommitted_.lower_bound(RoundDownPtr(block->ptr, g));
  while (block->decommitted != 0 && it != decommitted_.end() && it->first < hi) {
    const auto [start, length] = *it;
    if (!backend_->Commit(start, length)) {
      return OutOfMemoryLocked(bytes, size, stream,
                               absl::StrCat("backend '", backend_->name(), "' could not commit ", FormatBytes(length),
                                            " of a cached block"));
    }
    ++counters_.backend_commits;
    it = decommitted_.erase(it);
    block->decommitted -= length;
    counters_.decommitted_bytes -= length;
    AddReservedLocked(length);
  }
  if (block->decommitted != 0) {  // never hand out pages that are not there
    return absl::InternalError(
        absl::StrCat("memory pool bookkeeping: ", block->decommitted, " decommitted bytes of a block not found"));
  }
  return absl::OkStatus();
}

}  // namespace seqserve::memory
