// ReplayTrace: runs a recorded allocation trace (memory/trace.h) against a pool, to compare
// pool policies or measure a production workload offline.
//
// Recorded addresses are only names: the replay maps each to the pointer its own allocation got,
// and frees through that. A free whose allocation is not in the trace (the recording began
// mid-run) or failed during the replay is skipped and counted. Allocations still live at the
// end are freed, so the pool is left empty (its peaks stay readable in stats()).
//
// Thread-safety: as the pool's; the events are replayed in order from the calling thread.
#ifndef SEQSERVE_MEMORY_TRACE_REPLAY_H_
#define SEQSERVE_MEMORY_TRACE_REPLAY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/caching_allocator.h"
#include "memory/trace.h"

namespace seqserve::memory {

struct ReplayResult {
  int64_t allocations = 0;         // allocations replayed successfully
  int64_t failed_allocations = 0;  // allocations that failed with RESOURCE_EXHAUSTED
  int64_t frees = 0;               // frees replayed
  int64_t skipped_frees = 0;       // frees of allocations not in the trace or failed
  int64_t live_at_end = 0;         // allocations never freed in the trace (freed by the replay)
};

// INVALID_ARGUMENT when the trace allocates an address that is still live (it interleaves
// several pools), or the pool reports an error other than RESOURCE_EXHAUSTED.
absl::StatusOr<ReplayResult> ReplayTrace(const std::vector<TraceEvent>& events, CachingAllocator& pool);

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TRACE_REPLAY_H_
