#include "runtime/resources/host_memory.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/resources/cgroup.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1 << 20;
// v1 writes PAGE_COUNTER_MAX pages (~2^63 bytes) for "no limit"; anything this large is none.
constexpr uint64_t kNoLimitAbove = uint64_t{1} << 60;

std::string Mib(uint64_t bytes) { return absl::StrCat(bytes / kMiB, " MiB"); }

}  // namespace

std::optional<uint64_t> ParseMemoryLimit(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  uint64_t bytes = 0;
  if (text == "max" || !absl::SimpleAtoi(text, &bytes) || bytes == 0 || bytes >= kNoLimitAbove) return std::nullopt;
  return bytes;
}

MemoryLimit DetectMemoryLimit(const std::string& cgroup_root, const std::string& proc_self_cgroup) {
  const CgroupMembership membership = ParseProcCgroup(ReadCgroupFile(proc_self_cgroup).value_or(""));
  const fs::path root(cgroup_root);
  fs::path where;
  std::optional<double> bytes;
  const char* file = nullptr;
  auto limit_in = [](const char* name) {
    return [name](const fs::path& dir) -> std::optional<double> {
      std::optional<std::string> text = ReadCgroupFile(dir / name);
      std::optional<uint64_t> b = text ? ParseMemoryLimit(*text) : std::nullopt;
      return b ? std::optional<double>(static_cast<double>(*b)) : std::nullopt;
    };
  };
  if (auto memory = membership.v1.find("memory"); memory != membership.v1.end()) {
    const fs::path base = root / "memory";
    file = "memory.limit_in_bytes";
    bytes = SmallestLimitUpTo(base, base / memory->second, limit_in(file), &where);
  } else if (membership.unified.has_value()) {
    file = "memory.max";
    bytes = SmallestLimitUpTo(root, root / *membership.unified, limit_in(file), &where);
  }
  MemoryLimit limit;
  if (bytes.has_value()) {
    limit.bytes = static_cast<uint64_t>(*bytes);
    limit.source = (where / file).string();
  } else {
    limit.source = file == nullptr ? "no memory cgroup" : absl::StrCat("no ", file, " limit");
  }
  return limit;
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t PhysicalMemoryBytes() {
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t SafetyMargin(uint64_t limit) { return std::max<uint64_t>(64 * kMiB, limit / 20); }

uint64_t RequestMemoryBudget(uint64_t limit) { return std::max<uint64_t>(16 * kMiB, limit / 16); }

uint64_t GrpcReceiveBytes(uint64_t request_budget, uint64_t max_message_bytes) {
  return std::max(2 * request_budget, 4 * max_message_bytes);
}

uint64_t DefaultMaxMessageBytes(uint64_t request_budget) {
  return std::clamp<uint64_t>(request_budget / 2, 4 * kMiB, 256 * kMiB);
}

PoolBudget PlanPoolBudget(const std::optional<uint64_t>& limit, uint64_t resident, uint64_t pool_reserved,
                          uint64_t requests) {
  PoolBudget plan;
  plan.limit = limit;
  plan.outside_pool = resident > pool_reserved ? resident - pool_reserved : 0;
  plan.requests = requests;
  if (!limit.has_value()) {
    plan.reason = "no memory limit: the pool is unlimited";
    return plan;
  }
  plan.margin = SafetyMargin(*limit);
  const uint64_t taken = plan.outside_pool + plan.margin + plan.requests;
  plan.budget = *limit > taken ? *limit - taken : 1;
  plan.reason =
      absl::StrCat("limit ", Mib(*limit), " - outside the pool ", Mib(plan.outside_pool), " - margin ",
                   Mib(plan.margin), " - requests ", Mib(plan.requests), " = pool budget ", Mib(plan.budget),
                   *limit > taken ? "" : " (the limit leaves nothing for tensors: every request will be refused)");
  return plan;
}

}  // namespace seqserve
