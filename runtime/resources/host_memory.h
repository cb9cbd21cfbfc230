// What this process may use of the machine's memory, and the rule that turns it into the
// caching pool's budget.
//
// Note [budget from the pod]: a pod's `resources.limits.memory` is its cgroup's memory limit
// (v2 `memory.max`, v1 `memory.limit_in_bytes`); going over it gets the process OOM-killed,
// every request in flight with it. The pool refuses an allocation beyond its budget instead
// (RESOURCE_EXHAUSTED, which the executor answers by splitting the batch), so by default the
// budget is what the pod's limit leaves for tensors:
//
//     pool budget  = limit - (resident - pool reserved) - margin - requests - gRPC receive
//     margin       = max(64 MiB, limit / 20)
//     requests     = limit / 16, at least 16 MiB                  (--request-memory-bytes)
//     gRPC receive = max(2 x requests, 4 x largest body or message)
//     largest body or message = requests / 2, within [4 MiB, 256 MiB]   (--max-message-bytes)
//
// `requests` is what the server may hold of requests in flight at once — bodies and messages,
// their decoded tensors, requests waiting in queues (Note [request bytes] in
// server/admission/request_memory.h). `gRPC receive` is what gRPC may buffer of messages it has not
// handed over yet (its resource quota: gRPC 1.51 receives a message whole before it checks its
// size, so only the quota bounds a 100 MB message before it is buffered; under the quota's
// pressure gRPC resets streams of any client, so it is sized to stay clear of it with two
// 100 MB messages at once: Note [gRPC receive memory] in server/main.cc); it holds at least four
// of the largest messages, so that one message the size limit admits never meets the quota alone
// (gRPC reserves read buffers ahead of the bytes: a 5 MB message in an 8 MB quota was reset
// "Buffers full" instead of being charged and refused with its own words). Both live outside the
// pool, so the pool is planned without them. Half of `requests` for the largest request keeps
// two of the largest held at once, each charged its body and a tensor of its size. For a
// 1000 MiB pod: 62 MiB for requests, 125 MiB for gRPC's buffers, 31 MiB the largest request.
// All come from the limit alone, so they are known before anything loads (gRPC's limits are set
// at start).
//
// `resident - pool reserved` is everything the process holds outside the pool (libtorch's code
// and its heap, gRPC, request messages), measured after the models have loaded and warmed up,
// when it has settled (a first estimate at start-up covers loading). The margin covers what
// grows outside the pool under load (gRPC buffers, allocator caches of other libraries) and the
// pages the pool reserves but has not yet touched; never planned below an earlier measurement
// (resident - reserved undercounts when reserved pages are untouched). Measured on
// all-MiniLM-L6-v2 in 800 and 1000 MiB cgroups (benchmarks/memory/pod_memory_limit.py,
// benchmarks/RESULTS.md): 349 MiB outside the pool before loading, 392 MiB after warm-up, and
// the cgroup's peak under a flood of 32 x 512-token requests 400 MiB, far below either limit.
// No limit found: the pool is unlimited, and `requests` is planned from the machine's memory
// instead (RAM / 16: 256 MiB bodies on any machine of 8 GiB or more, as before the rule).
// `--memory-budget-bytes` overrides the pool's rule (0: unlimited).
//
// Plain functions; thread-compatible.
#ifndef SEQSERVE_RUNTIME_RESOURCES_HOST_MEMORY_H_
#define SEQSERVE_RUNTIME_RESOURCES_HOST_MEMORY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace seqserve {

struct MemoryLimit {
  std::optional<uint64_t> bytes;  // nullopt: no limit found
  std::string source;             // for the log: the file it came from, or why there is none
};

// The memory limit of this process's cgroup (as `proc_self_cgroup` names it, under
// `cgroup_root`: v1's memory controller where there is one, else v2), the smallest on the way
// up to the hierarchy's root.
MemoryLimit DetectMemoryLimit(const std::string& cgroup_root = "/sys/fs/cgroup",
                              const std::string& proc_self_cgroup = "/proc/self/cgroup");

// Bytes from cgroup v2 `memory.max` or v1 `memory.limit_in_bytes` text; none for v2's "max"
// and for v1's ~2^63 (what the kernel writes when there is no limit).
std::optional<uint64_t> ParseMemoryLimit(absl::string_view text);

// Resident memory of this process (/proc/self/statm), bytes; 0 if unreadable.
uint64_t ResidentBytes();
// The machine's physical memory, bytes.
uint64_t PhysicalMemoryBytes();

struct PoolBudget {
  std::optional<uint64_t> limit;  // the pod's memory limit, if any
  uint64_t outside_pool = 0;      // resident - pool reserved, when it was planned
  uint64_t margin = 0;
  uint64_t requests = 0;  // set aside for request bytes in flight (and gRPC's receive buffers)
  uint64_t budget = 0;    // the pool's capacity; 0: unlimited
  std::string reason;     // for the log
};

uint64_t SafetyMargin(uint64_t limit);

// The Note's `requests` for a pod limited to `limit` bytes (or a machine with that much memory).
uint64_t RequestMemoryBudget(uint64_t limit);
// The Note's largest body or message, for a request budget of `request_budget` bytes.
uint64_t DefaultMaxMessageBytes(uint64_t request_budget);
// The Note's `gRPC receive`: gRPC's resource quota for a request budget of `request_budget`
// and messages of at most `max_message_bytes`.
uint64_t GrpcReceiveBytes(uint64_t request_budget, uint64_t max_message_bytes);

// The Note's rule. `resident` and `pool_reserved` measured together; `requests`: the bytes set
// aside for requests (the request budget and gRPC's receive quota). A limit too small to leave
// anything gives a budget of 1 byte (nothing can be allocated: every request is refused rather than the
// pod killed) and says so in `reason`.
PoolBudget PlanPoolBudget(const std::optional<uint64_t>& limit, uint64_t resident, uint64_t pool_reserved,
                          uint64_t requests);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_RESOURCES_HOST_MEMORY_H_
