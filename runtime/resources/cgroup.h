// Where this process sits in the cgroup hierarchies, and reading a limit that may be set on
// its own cgroup or any ancestor: what CpuBudget (runtime/resources/host_cpu.h) and MemoryLimit
// (runtime/resources/host_memory.h) share.
//
// Layouts met in pods: cgroup v2 alone (/sys/fs/cgroup is the unified hierarchy, one line
// "0::/path" in /proc/self/cgroup), v1 alone (one mount per controller, lines like
// "4:memory:/path"), and hybrids (both; a controller bound to v1 is absent from v2). With a
// cgroup namespace the path is "/" and the mount is the pod's own cgroup; without one the path
// may name a host cgroup the mount does not show. Walking up from the path to the mount's root
// and reading what exists covers all of them.
//
// Plain functions over files; thread-compatible.
#ifndef SEQSERVE_RUNTIME_RESOURCES_CGROUP_H_
#define SEQSERVE_RUNTIME_RESOURCES_CGROUP_H_

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace seqserve {

struct CgroupMembership {
  std::optional<std::string> unified;     // v2 path, relative (no leading '/')
  std::map<std::string, std::string> v1;  // v1 controller ("cpu", "memory", ...) -> relative path
};

// Parses /proc/self/cgroup text.
CgroupMembership ParseProcCgroup(absl::string_view text);

// The whole file, or nullopt when it cannot be read.
std::optional<std::string> ReadCgroupFile(const std::filesystem::path& path);

// The smallest value `limit_of(dir)` gives (nullopt: no limit there) from `dir` up to and
// including `root` (a limit on an ancestor binds too); `where` gets the directory it came from.
std::optional<double> SmallestLimitUpTo(
    const std::filesystem::path& root, std::filesystem::path dir,
    const std::function<std::optional<double>(const std::filesystem::path&)>& limit_of, std::filesystem::path* where);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_RESOURCES_CGROUP_H_
