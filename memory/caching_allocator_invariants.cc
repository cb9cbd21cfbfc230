// CachingAllocator::CheckInvariants: the pool's white-box self-check, for tests. It recounts
// every block, range and counter from scratch (O(blocks)) and names the first violation.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "memory/caching_allocator.h"
#include "memory/size_classes.h"

namespace seqserve::memory {

absl::Status CachingAllocator::CheckInvariants() const {
  MutexLock lock(&mu_);
  auto fail = [this](const std::string& what) {
    return absl::InternalError(
        absl::StrCat("memory pool invariant violated: ", what, " [", DebugString(StatsLocked()), "]"));
  };
  auto at = [](const void* p) { return absl::StrFormat("%p", p); };

  // Every block, by address, with the state its container implies.
  std::map<const char*, const Block*> blocks;
  uint64_t live_bytes = 0, requested_bytes = 0, free_bytes = 0, pending_bytes = 0;
  for (const auto& [ptr, block] : live_) {
    if (block->state != BlockState::kLive) {
      return fail(absl::StrCat("live map holds non-live block ", at(ptr)));
    }
    if (ptr != block->ptr) return fail(absl::StrCat("live map key ", at(ptr), " != block address"));
    if (block->requested == 0 || RoundRequest(block->requested) > block->size) {
      return fail(
          absl::StrCat("live block ", at(ptr), " of ", block->size, " bytes holds a request of ", block->requested));
    }
    if (!blocks.emplace(block->ptr, block).second) {
      return fail(absl::StrCat("block ", at(ptr), " listed twice"));
    }
    live_bytes += block->size;
    requested_bytes += block->requested;
  }
  for (const FreeBlocks* free_list : {&small_free_, &large_free_}) {
    for (const Block* block : *free_list) {
      if (block->state != BlockState::kFree) {
        return fail(absl::StrCat("free list holds non-free block ", at(block->ptr)));
      }
      if (block->small != (free_list == &small_free_)) {
        return fail(absl::StrCat("block ", at(block->ptr), " in the wrong pool"));
      }
      if (!blocks.emplace(block->ptr, block).second) {
        return fail(absl::StrCat("block ", at(block->ptr), " listed twice"));
      }
      free_bytes += CommittedBytes(block);
    }
  }
  std::map<const Block*, int> events;
  for (const PendingEvent& p : pending_) ++events[p.block];
  for (const auto& [block, count] : events) {
    if (block->state != BlockState::kPending || block->pending_events != count) {
      return fail(absl::StrCat("pending block ", at(block->ptr), " expects ", block->pending_events, " events, ", count,
                               " recorded"));
    }
    if (!blocks.emplace(block->ptr, block).second) {
      return fail(absl::StrCat("block ", at(block->ptr), " listed twice"));
    }
    pending_bytes += block->size;
  }

  // Decommitted ranges: aligned, disjoint, each inside the whole pages of one free block, and
  // summing to that block's count.
  uint64_t decommitted_bytes = 0;
  std::map<const Block*, size_t> decommitted_by_block;
  const char* previous_end = nullptr;
  for (const auto& [start, bytes] : decommitted_) {
    const size_t g = decommit_granularity_;
    if (g == 0 || reinterpret_cast<uintptr_t>(start) % g != 0 || bytes == 0 || bytes % g != 0) {
      return fail(absl::StrCat("decommitted range ", at(start), " of ", bytes, " bytes"));
    }
    if (previous_end != nullptr && start < previous_end) {
      return fail(absl::StrCat("decommitted range ", at(start), " overlaps the previous"));
    }
    previous_end = start + bytes;
    auto owner = blocks.upper_bound(start);
    const Block* block = owner == blocks.begin() ? nullptr : std::prev(owner)->second;
    if (block == nullptr || block->state != BlockState::kFree || start < RoundUpPtr(block->ptr, g) ||
        start + bytes > RoundDownPtr(block->ptr + block->size, g)) {
      return fail(absl::StrCat("decommitted range ", at(start), " is not inside a free block's whole pages"));
    }
    decommitted_by_block[block] += bytes;
    decommitted_bytes += bytes;
  }
  // Every block, pending ones included, counts exactly its ranges (none unless free).
  for (const auto& [ptr, block] : blocks) {
    const auto it = decommitted_by_block.find(block);
    if (block->decommitted != (it == decommitted_by_block.end() ? 0 : it->second)) {
      return fail(absl::StrCat("block ", at(ptr), " counts ", block->decommitted, " decommitted bytes"));
    }
  }

  // Segments are tiled exactly by their blocks.
  uint64_t reserved = 0;
  size_t reached = 0;
  const size_t alignment = std::min<size_t>(backend_->alignment(), kMinBlockSize);
  for (const auto& [base, segment] : segments_) {
    reserved += segment.size;
    const auto head = blocks.find(base);
    if (head == blocks.end()) {
      return fail(absl::StrCat("segment ", at(base), " has no block at its start"));
    }
    if (head->second->prev != nullptr) {
      return fail(absl::StrCat("first block of segment ", at(base), " has a prev"));
    }
    const char* expected = base;
    const Block* prev = nullptr;
    for (const Block* b = head->second; b != nullptr; prev = b, b = b->next) {
      if (++reached > blocks.size()) return fail("the blocks' links form a cycle");
      if (b->ptr != expected) {
        return fail(absl::StrCat("gap or overlap at ", at(b->ptr), " in segment ", at(base)));
      }
      if (b->prev != prev) return fail(absl::StrCat("broken prev link at ", at(b->ptr)));
      if (b->size == 0 || b->size % kMinBlockSize != 0) {
        return fail(absl::StrCat("block ", at(b->ptr), " size ", b->size));
      }
      if (reinterpret_cast<uintptr_t>(b->ptr) % alignment != 0) {
        return fail(absl::StrCat("block ", at(b->ptr), " misaligned"));
      }
      if (b->stream != segment.stream || b->small != segment.small) {
        return fail(absl::StrCat("block ", at(b->ptr), " disagrees with its segment's stream or pool"));
      }
      if (prev != nullptr && prev->state == BlockState::kFree && b->state == BlockState::kFree) {
        return fail(absl::StrCat("adjacent free blocks at ", at(prev->ptr), " and ", at(b->ptr)));
      }
      if (blocks.find(b->ptr) == blocks.end() || blocks.at(b->ptr) != b) {
        return fail(absl::StrCat("block ", at(b->ptr), " is in no state's container"));
      }
      expected = b->ptr + b->size;
    }
    if (expected != base + segment.size) {
      return fail(
          absl::StrCat("blocks of segment ", at(base), " cover ", expected - base, " of ", segment.size, " bytes"));
    }
  }
  if (reached != blocks.size()) {
    return fail(absl::StrCat(blocks.size() - reached, " blocks belong to no segment"));
  }

  // Totals and counters.
  const PoolStats& c = counters_;
  if (c.allocated_bytes > c.reserved_bytes) return fail("allocated > reserved");
  if (free_bytes + live_bytes + pending_bytes + decommitted_bytes != reserved) {
    return fail("free + live + pending + decommitted != the segments' bytes");
  }
  if (reserved != c.reserved_bytes + c.decommitted_bytes) {
    return fail(absl::StrCat("segments hold ", reserved, " bytes, not reserved + decommitted"));
  }
  if (decommitted_bytes != c.decommitted_bytes) {
    return fail(absl::StrCat("decommitted recount ", decommitted_bytes));
  }
  if (live_bytes != c.allocated_bytes) return fail(absl::StrCat("allocated recount ", live_bytes));
  if (requested_bytes != c.requested_bytes) {
    return fail(absl::StrCat("requested recount ", requested_bytes));
  }
  if (free_bytes != c.cached_free_bytes) {
    return fail(absl::StrCat("cached free recount ", free_bytes));
  }
  if (pending_bytes != c.pending_free_bytes) {
    return fail(absl::StrCat("pending free recount ", pending_bytes));
  }
  if (live_.size() != c.live_blocks) return fail("live block count");
  if (events.size() != c.pending_free_blocks) return fail("pending block count");
  if (segments_.size() != c.segments) return fail("segment count");
  if (c.peak_reserved_bytes < c.reserved_bytes || c.peak_allocated_bytes < c.allocated_bytes) {
    return fail("peak below current");
  }
  if (c.backend_allocations - c.backend_frees != c.segments) {
    return fail("backend calls disagree with segments");
  }
  return absl::OkStatus();
}

}  // namespace seqserve::memory
