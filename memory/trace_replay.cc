#include "memory/trace_replay.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace seqserve::memory {

absl::StatusOr<ReplayResult> ReplayTrace(const std::vector<TraceEvent>& events, CachingAllocator& pool) {
  ReplayResult result;
  // Recorded address -> the replay's pointer (nullptr: the replayed allocation failed).
  absl::flat_hash_map<uint64_t, void*> live;
  absl::Status error;
  for (size_t i = 0; i < events.size() && error.ok(); ++i) {
    const TraceEvent& e = events[i];
    if (e.op == TraceOp::kAlloc) {
      if (live.contains(e.address)) {
        error = absl::InvalidArgumentError(absl::StrFormat(
            "trace event %d allocates 0x%x, which is still live: not a single pool's trace", i, e.address));
        break;
      }
      absl::StatusOr<void*> ptr = pool.Allocate(e.size, e.stream);
      if (ptr.ok()) {
        ++result.allocations;
        live.emplace(e.address, *ptr);
      } else if (absl::IsResourceExhausted(ptr.status())) {
        ++result.failed_allocations;
        live.emplace(e.address, nullptr);
      } else {
        error = ptr.status();
      }
    } else {
      const auto it = live.find(e.address);
      if (it == live.end() || it->second == nullptr) {
        ++result.skipped_frees;
        if (it != live.end()) live.erase(it);
        continue;
      }
      error = pool.Free(it->second);
      live.erase(it);
      ++result.frees;
    }
  }
  for (const auto& [address, ptr] : live) {
    if (ptr == nullptr) continue;
    ++result.live_at_end;
    absl::Status status = pool.Free(ptr);
    if (error.ok()) error = status;
  }
  if (!error.ok()) return error;
  return result;
}

}  // namespace seqserve::memory
