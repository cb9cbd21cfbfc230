#include "runtime/resources/host_cpu.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/resources/cgroup.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

int AffinityCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace

std::optional<double> ParseCpuMax(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(absl::StripAsciiWhitespace(text), ' ', absl::SkipEmpty());
  double quota = 0, period = 0;
  if (parts.size() != 2 || parts[0] == "max" || !absl::SimpleAtod(parts[0], &quota) ||
      !absl::SimpleAtod(parts[1], &period) || quota <= 0 || period <= 0) {
    return std::nullopt;
  }
  return quota / period;
}

std::optional<double> ParseCfsQuota(absl::string_view quota_us, absl::string_view period_us) {
  double quota = 0, period = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(quota_us), &quota) ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(period_us), &period) || quota <= 0 || period <= 0) {
    return std::nullopt;  // -1: no quota
  }
  return quota / period;
}

int BudgetCores(std::optional<double> quota_cores, int affinity_cores) {
  int cores = std::max(1, affinity_cores);
  if (quota_cores.has_value()) cores = std::min(cores, std::max(1, static_cast<int>(std::floor(*quota_cores + 1e-9))));
  return cores;
}

CpuBudget DetectCpuBudget(const std::string& cgroup_root, const std::string& proc_self_cgroup) {
  CpuBudget budget;
  budget.affinity_cores = AffinityCores();
  const fs::path root(cgroup_root);
  fs::path where;
  // Where the cpu controller is on v1 (a hybrid host mounts v2 too, without it), v1 has the
  // quota.
  const CgroupMembership membership = ParseProcCgroup(ReadCgroupFile(proc_self_cgroup).value_or(""));
  std::optional<std::string> v1_path, v2_path = membership.unified;
  if (auto cpu = membership.v1.find("cpu"); cpu != membership.v1.end()) v1_path = cpu->second;
  if (v1_path.has_value()) {
    for (const char* mount : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
      const fs::path base = root / mount;
      budget.quota_cores = SmallestLimitUpTo(
          base, base / *v1_path,
          [](const fs::path& dir) {
            std::optional<std::string> quota = ReadCgroupFile(dir / "cpu.cfs_quota_us");
            std::optional<std::string> period = ReadCgroupFile(dir / "cpu.cfs_period_us");
            return quota && period ? ParseCfsQuota(*quota, *period) : std::nullopt;
          },
          &where);
      if (budget.quota_cores) {
        budget.source = (where / "cpu.cfs_quota_us").string();
        break;
      }
    }
  } else if (v2_path.has_value()) {
    budget.quota_cores = SmallestLimitUpTo(
        root, root / *v2_path,
        [](const fs::path& dir) {
          std::optional<std::string> text = ReadCgroupFile(dir / "cpu.max");
          return text ? ParseCpuMax(*text) : std::nullopt;
        },
        &where);
    if (budget.quota_cores) budget.source = (where / "cpu.max").string();
  }
  budget.cores = BudgetCores(budget.quota_cores, budget.affinity_cores);
  budget.source = budget.quota_cores ? absl::StrCat("cgroup quota ", *budget.quota_cores, " cores (", budget.source,
                                                    "), affinity ", budget.affinity_cores, " CPUs")
                                     : absl::StrCat("no cgroup CPU quota, affinity ", budget.affinity_cores, " CPUs");
  return budget;
}

const CpuBudget& ProcessCpuBudget() {
  static const CpuBudget* budget = new CpuBudget(DetectCpuBudget());
  return *budget;
}

InstanceLayout DefaultInstanceLayout(int cores, int instances, int intra_op_threads) {
  cores = std::max(1, cores);
  InstanceLayout layout;
  if (instances > 0 && intra_op_threads > 0) {
    layout = {instances, intra_op_threads};
  } else if (instances > 0) {
    layout = {instances, std::max(1, cores / instances)};
  } else if (intra_op_threads > 0) {
    layout = {std::max(1, cores / intra_op_threads), intra_op_threads};
  } else {
    layout.instances = std::min(cores, 4);
    layout.intra_op_threads = cores / layout.instances;
  }
  return layout;
}

const std::set<std::string>& HostCpuFlags() {
  static const std::set<std::string>* const flags = [] {
    auto* out = new std::set<std::string>();
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (absl::StartsWith(line, "flags")) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) break;
        for (absl::string_view f : absl::StrSplit(line.substr(colon + 1), ' ', absl::SkipEmpty())) out->emplace(f);
        break;
      }
    }
    return out;
  }();
  return *flags;
}

}  // namespace seqserve
