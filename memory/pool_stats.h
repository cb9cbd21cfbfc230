// PoolStats: a snapshot of a CachingAllocator's memory and counters, read with
// CachingAllocator::stats() and exported by the server at scrape time.
//
// Plain value type; a snapshot is consistent (taken under the pool's lock).
#ifndef SEQSERVE_MEMORY_POOL_STATS_H_
#define SEQSERVE_MEMORY_POOL_STATS_H_

#include <cstdint>
#include <string>

namespace seqserve::memory {

struct PoolStats {
  // Memory (bytes) ----------------------------------------------------------------------------
  // Held from the backend: the sum of all segments, less their decommitted pages.
  uint64_t reserved_bytes = 0;
  // In live allocations, as block sizes (each request rounded to 512 B, plus any unsplit
  // remainder; see size_classes.h).
  uint64_t allocated_bytes = 0;
  // In live allocations, as the callers asked for them.
  uint64_t requested_bytes = 0;
  // Highest reserved_bytes / allocated_bytes since construction or ResetPeaks().
  uint64_t peak_reserved_bytes = 0;
  uint64_t peak_allocated_bytes = 0;
  // In the free lists and backed by memory: reusable by a request of the same stream without
  // a backend call. (reserved = allocated + cached free + pending free.)
  uint64_t cached_free_bytes = 0;
  // In the free lists but given back to the backend (Note [footprint ceiling]): address space
  // of the pool's segments that holds no memory until a request needs it again.
  uint64_t decommitted_bytes = 0;
  // Freed, but still waiting for events on other streams before reuse (RecordStream).
  uint64_t pending_free_bytes = 0;
  // The largest block in the free lists (0 if none): the largest request served without a
  // backend call, on that block's stream.
  uint64_t largest_free_block = 0;

  // Counts -------------------------------------------------------------------------------------
  uint64_t segments = 0;             // segments held from the backend
  uint64_t live_blocks = 0;          // live allocations
  uint64_t free_blocks = 0;          // blocks in the free lists
  uint64_t pending_free_blocks = 0;  // blocks waiting for stream events
  uint64_t backend_allocations = 0;  // successful Backend::Allocate calls
  uint64_t backend_frees = 0;        // Backend::Free calls
  uint64_t backend_grows = 0;        // Backend::GrowInPlace calls that grew a segment
  uint64_t backend_failures = 0;     // failed Backend::Allocate calls
  uint64_t cache_hits = 0;           // allocations served from the free lists
  uint64_t cache_misses = 0;         // allocations that needed a new segment (or failed)
  uint64_t oom_count = 0;            // allocations that failed with RESOURCE_EXHAUSTED
  uint64_t segments_adopted = 0;     // idle segments handed from one stream to another
  uint64_t backend_decommits = 0;    // Backend::Decommit calls
  uint64_t backend_commits = 0;      // Backend::Commit calls (decommitted pages taken again)

  // Ratios, derived when the snapshot is taken ---------------------------------------------------
  // 1 - largest_free_block / (cached_free_bytes + decommitted_bytes): 0 when the free space is
  // one block (or there is none), towards 1 when it is scattered in many small pieces.
  double fragmentation = 0;
  // reserved_bytes / allocated_bytes: 1 is a perfect fit, 2 means half of what is held is idle.
  // 0 when allocated_bytes is 0 (the ratio is undefined; read reserved_bytes then), so a gauge
  // never shows infinity.
  double overhead = 0;
  // cache_hits / (cache_hits + cache_misses); 0 before the first allocation.
  double hit_rate = 0;
};

// "4194304 bytes (4.00 MiB)", for messages.
std::string FormatBytes(uint64_t bytes);

// One line, "reserved=20971520 allocated=512 ...", for logs and test failures.
std::string DebugString(const PoolStats& stats);

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_POOL_STATS_H_
