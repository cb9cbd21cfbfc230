// What this process may use of the machine's CPU: how many cores (CpuBudget, from the cgroup
// CPU quota and the affinity mask, and the rule that turns them into default model instances),
// and which instruction sets (HostCpuFlags).
//
// Note [cores from the pod]: a pod's `resources.limits.cpu` becomes a CFS quota (cgroup v2
// `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), not an affinity mask, so
// std::thread::hardware_concurrency() reports the node's cores (often 32-128) while the pod may
// use 2. Threads beyond the quota are throttled in bursts, which shows as p99 latency. The
// budget is the smaller of floor(quota / period) (at least 1) and the number of CPUs in the
// affinity mask (taskset, cpusets, the kubelet's static CPU manager).
//
// The default layout (DefaultInstanceLayout): instances = min(cores, 4), intra-op threads =
// cores / instances, nothing set aside for gRPC. Measured on all-MiniLM-L6-v2 TorchScript, 2-core
// AMD EPYC: 2 instances x 1 thread served 1.83x the sentences/s of 1 x 1 (the other layouts:
// benchmarks/RESULTS.md). Instances cost only their activations, since they share the weights
// (Note [one copy of the weights] in runtime/torch/torch_model.h). Beyond 4 instances the batcher's
// batches shrink (each instance takes its own), so large budgets add threads per instance
// instead; that cap is reasoned, not measured (these machines have 2 cores).
#ifndef SEQSERVE_RUNTIME_RESOURCES_HOST_CPU_H_
#define SEQSERVE_RUNTIME_RESOURCES_HOST_CPU_H_

#include <optional>
#include <set>
#include <string>

#include "absl/strings/string_view.h"

namespace seqserve {

struct CpuBudget {
  int cores = 1;                      // what the process may use: min(quota, affinity), >= 1
  std::optional<double> quota_cores;  // cgroup quota / period; nullopt when unlimited
  int affinity_cores = 1;             // CPUs in the affinity mask
  std::string source;                 // for the log: where the number came from
};

// Reads the budget of this process: its cgroup (as `proc_self_cgroup` names it, under
// `cgroup_root`: v1's cpu controller where there is one, else v2) and sched_getaffinity.
// Files that are missing or unreadable count as no quota.
CpuBudget DetectCpuBudget(const std::string& cgroup_root = "/sys/fs/cgroup",
                          const std::string& proc_self_cgroup = "/proc/self/cgroup");

// The budget detected once for this process (DetectCpuBudget on first use). Thread-safe.
const CpuBudget& ProcessCpuBudget();

// Quota in cores from cgroup v2 `cpu.max` text ("200000 100000", or "max 100000" for none).
std::optional<double> ParseCpuMax(absl::string_view text);
// Quota in cores from cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us texts (quota -1: none).
std::optional<double> ParseCfsQuota(absl::string_view quota_us, absl::string_view period_us);
// The core budget from a quota (nullopt: none) and the affinity count: see the Note.
int BudgetCores(std::optional<double> quota_cores, int affinity_cores);

struct InstanceLayout {
  int instances = 1;
  int intra_op_threads = 1;
};

// The default instances x intra-op threads for a CPU model given `cores` (the Note's rule).
// `instances` / `intra_op_threads` > 0 are what config.pbtxt fixed; the other is derived from
// them so that instances x threads stays within the cores.
InstanceLayout DefaultInstanceLayout(int cores, int instances = 0, int intra_op_threads = 0);

// The instruction-set flags of this machine's CPU (/proc/cpuinfo "flags", e.g. "avx2",
// "avx512_bf16", "amx_tile"), read once. Thread-safe.
const std::set<std::string>& HostCpuFlags();

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_RESOURCES_HOST_CPU_H_
