#include "runtime/repository/repository_scan.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/base/logging.h"
#include "runtime/config/model_config.h"

namespace seqserve {

namespace fs = std::filesystem;

namespace {

bool VersionNumber(const fs::directory_entry& entry, int64_t* number) {
  std::error_code ec;
  return entry.is_directory(ec) && absl::SimpleAtoi(entry.path().filename().string(), number) && *number > 0;
}

// Why a repository entry is skipped; `suspicious` when it looks like a model set up wrongly
// (model files but no config.pbtxt or version folder), which is logged as a warning.
struct Skip {
  std::string reason;
  bool suspicious = false;
};

// Note [what is a model]: pods mount repositories as volumes, and volumes carry entries that are
// not models: `lost+found` at the root of an ext4 volume, dot-folders (`.git`, `.snapshot`), and
// for a ConfigMap or Secret Kubernetes' own layout (`..data` -> `..2026_12_01_...`, each model a
// symlink through `..data`). Counting those as failed models would keep a strict server from
// ever becoming ready. So an entry is a model only if it is a directory (symlinks followed) not
// named `lost+found` or starting with '.', holding a config.pbtxt or at least one version
// folder; anything else is skipped with one log line.
std::optional<Skip> NotAModel(const fs::directory_entry& entry) {
  const std::string name = entry.path().filename().string();
  if (name.empty() || name[0] == '.') return Skip{"hidden entry (a dot-folder or Kubernetes' volume layout)"};
  if (name == "lost+found") return Skip{"the file system's lost+found"};
  std::error_code ec;
  if (!entry.is_directory(ec)) return Skip{"not a directory"};
  if (fs::exists(entry.path() / "config.pbtxt", ec)) return std::nullopt;
  bool model_files = false;
  for (const fs::directory_entry& v : fs::directory_iterator(entry.path(), ec)) {
    int64_t number = 0;
    if (VersionNumber(v, &number)) return std::nullopt;
    const std::string file = v.path().filename().string();
    model_files |= absl::EndsWith(file, ".pt") || absl::EndsWith(file, ".pt2");
  }
  if (model_files) {
    return Skip{absl::StrCat("holds model files but no config.pbtxt and no version folder; a model needs ", name,
                             "/config.pbtxt and ", name, "/1/model.pt"),
                true};
  }
  return Skip{"no config.pbtxt and no version folder, so not a model"};
}

// "relative-path size mtime-ns" per file under `dir`, sorted by path; symlinks followed.
std::string Fingerprint(const fs::path& dir) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    lines.push_back(absl::StrCat(fs::relative(it->path(), dir, ec).string(), " ", st.st_size, " ",
                                 static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
  return out;
}

ModelScan ScanModelDir(const fs::path& dir) {
  ModelScan scan;
  scan.dir = dir.string();
  std::error_code ec;
  const fs::path config = dir / "config.pbtxt";
  if (fs::exists(config, ec)) {
    scan.has_config = true;
    std::ifstream in(config, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad() || !in.is_open()) {
      scan.config_error = absl::StrCat("cannot read ", config.string());
    } else {
      scan.config_text = text.str();
    }
  }
  // The model file's name comes from the config; a config that does not parse fails the load
  // anyway, with its own reason, so its folders count as complete.
  std::string model_file;
  if (absl::StatusOr<ModelSetup> setup = ParseModelConfig(scan.config_text, dir.filename().string(), /*cpu_cores=*/1);
      setup.ok()) {
    model_file = setup->config.default_model_filename();
  }
  for (const fs::directory_entry& v : fs::directory_iterator(dir, ec)) {
    int64_t number = 0;
    if (!VersionNumber(v, &number)) continue;
    const bool complete = model_file.empty() || fs::exists(v.path() / model_file, ec);
    (complete ? scan.versions : scan.incomplete)[number] = Fingerprint(v.path());
  }
  return scan;
}

}  // namespace

std::map<std::string, ModelScan> ScanRepository(const std::string& repository, bool log_skips) {
  std::map<std::string, ModelScan> models;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(repository, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::optional<Skip> skip = NotAModel(entry)) {
      if (!log_skips) continue;
      if (skip->suspicious) {
        LogWarning("model repository: skipping '", name, "': ", skip->reason);
      } else {
        LogInfo("model repository: skipping '", name, "': ", skip->reason);
      }
      continue;
    }
    models.emplace(name, ScanModelDir(entry.path()));
  }
  return models;
}

std::optional<ModelScan> ScanModel(const std::string& repository, const std::string& name) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(repository, ec)) {
    if (entry.path().filename().string() != name) continue;
    if (NotAModel(entry)) return std::nullopt;
    return ScanModelDir(entry.path());
  }
  return std::nullopt;
}

absl::Status CheckModelName(absl::string_view name) {
  auto refuse = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", absl::CHexEscape(name.substr(0, 64)), "' is not a model name: ", why));
  };
  if (name.empty()) return refuse("it is empty");
  if (name.size() > 255) return refuse("it is longer than 255 bytes");
  if (name[0] == '.') return refuse("it starts with '.' (no '..', no hidden entries)");
  for (char c : name) {
    if (c == '/' || c == '\\') return refuse("it holds a path separator; name the model, not a path");
    if (c == '\0') return refuse("it holds a NUL byte");
  }
  return absl::OkStatus();
}

std::vector<PollChange> PollChanges(const std::map<std::string, ModelScan>& previous,
                                    const std::map<std::string, ModelScan>& now,
                                    const std::map<std::string, std::optional<ModelScan>>& synced) {
  std::set<std::string> names;
  for (const auto& [name, scan] : now) names.insert(name);
  for (const auto& [name, scan] : synced) names.insert(name);
  std::vector<PollChange> changes;
  for (const std::string& name : names) {
    auto scanned = now.find(name);
    auto before = previous.find(name);
    const bool present = scanned != now.end();
    // Act only on what two polls in a row scanned the same way.
    if (present != (before != previous.end()) || (present && scanned->second != before->second)) continue;
    auto known = synced.find(name);
    const bool changed =
        known == synced.end() ? present : !known->second.has_value() || !present || *known->second != scanned->second;
    if (!changed) continue;
    changes.push_back({name, present ? std::optional<ModelScan>(scanned->second) : std::nullopt,
                       known == synced.end() ? "appeared"
                       : present             ? "changed"
                                             : "left"});
  }
  return changes;
}

}  // namespace seqserve
