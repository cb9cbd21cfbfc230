#include "memory/pool_stats.h"

#include "absl/strings/str_format.h"

namespace seqserve::memory {

std::string FormatBytes(uint64_t bytes) {
  return absl::StrFormat("%d bytes (%.2f MiB)", bytes, static_cast<double>(bytes) / (1 << 20));
}

std::string DebugString(const PoolStats& s) {
  return absl::StrFormat(
      "reserved=%d allocated=%d requested=%d peak_reserved=%d peak_allocated=%d cached_free=%d "
      "pending_free=%d decommitted=%d largest_free_block=%d segments=%d live_blocks=%d free_blocks=%d "
      "pending_free_blocks=%d backend_allocations=%d backend_frees=%d backend_grows=%d backend_failures=%d "
      "cache_hits=%d cache_misses=%d oom_count=%d segments_adopted=%d backend_decommits=%d backend_commits=%d "
      "fragmentation=%.4f overhead=%.4f hit_rate=%.4f",
      s.reserved_bytes, s.allocated_bytes, s.requested_bytes, s.peak_reserved_bytes, s.peak_allocated_bytes,
      s.cached_free_bytes, s.pending_free_bytes, s.decommitted_bytes, s.largest_free_block, s.segments, s.live_blocks,
      s.free_blocks, s.pending_free_blocks, s.backend_allocations, s.backend_frees, s.backend_grows, s.backend_failures,
      s.cache_hits, s.cache_misses, s.oom_count, s.segments_adopted, s.backend_decommits, s.backend_commits,
      s.fragmentation, s.overhead, s.hit_rate);
}

}  // namespace seqserve::memory
