#include "runtime/resources/cgroup.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_split.h"

namespace seqserve {

namespace fs = std::filesystem;

CgroupMembership ParseProcCgroup(absl::string_view text) {
  CgroupMembership membership;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3) continue;
    std::string relative = fields[2];
    while (!relative.empty() && relative.front() == '/') relative.erase(0, 1);
    if (fields[0] == "0" && fields[1].empty()) {
      membership.unified = relative;
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(fields[1], ',', absl::SkipEmpty())) {
      membership.v1[std::string(controller)] = relative;
    }
  }
  return membership;
}

std::optional<std::string> ReadCgroupFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> SmallestLimitUpTo(const fs::path& root, fs::path dir,
                                        const std::function<std::optional<double>(const fs::path&)>& limit_of,
                                        fs::path* where) {
  std::optional<double> smallest;
  for (int depth = 0; depth < 64; ++depth) {
    if (std::optional<double> q = limit_of(dir); q.has_value() && (!smallest || *q < *smallest)) {
      smallest = q;
      *where = dir;
    }
    if (dir == root || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  return smallest;
}

}  // namespace seqserve
