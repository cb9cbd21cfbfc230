// Repository scanning: what the files of a model repository say, read without loading anything —
// which entries are models, each model's config text and its complete version folders, each with
// a fingerprint of its files. ModelRepository (runtime/repository/model_repository.h) decides what to load
// from scans; polling compares them (Note [atomic pickup]).
//
// Layout (familiar to Triton users):
//   <repository>/<model>/config.pbtxt
//   <repository>/<model>/<version>/model.pt     versions are positive integers
//
// Note [atomic pickup]: a volume that a sidecar, `kubectl cp` or a ConfigMap update changes
// under a running pod is read while it is being written. In poll mode a model's change is acted
// on only when two consecutive polls scanned it identically — config.pbtxt byte for byte, and per
// version folder every file's relative path, size and modification time (symlinks followed) —
// and a version folder counts only once its model file (config's default_model_filename) exists.
// So a copy in progress (a file still growing, a folder without its model file yet) waits for
// the poll after it finished; Kubernetes' ConfigMap update (files written into a new
// `..<timestamp>` folder, then the `..data` symlink swapped in one rename) is seen whole or not
// at all. What this cannot see is a writer that pauses for longer than a poll interval in the
// middle of a file; a manifest (runtime/config/model_manifest.h) catches that: its SHA-256 fails, the
// version is UNAVAILABLE with the reason, and it is retried once its files change again.
//
// Thread-compatible free functions; they only read the file system (PollChanges not even that).
#ifndef SEQSERVE_RUNTIME_REPOSITORY_REPOSITORY_SCAN_H_
#define SEQSERVE_RUNTIME_REPOSITORY_REPOSITORY_SCAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace seqserve {

// One model's folder as scanned.
struct ModelScan {
  std::string dir;           // <repository>/<model>
  bool has_config = false;   // config.pbtxt exists
  std::string config_text;   // its bytes
  std::string config_error;  // why it could not be read; empty when read
  // Complete version folders (their model file exists) -> fingerprint of their files.
  std::map<int64_t, std::string> versions;
  // Version folders without their model file yet (still being copied, or set up wrongly).
  std::map<int64_t, std::string> incomplete;

  bool operator==(const ModelScan& other) const {
    return dir == other.dir && has_config == other.has_config && config_text == other.config_text &&
           config_error == other.config_error && versions == other.versions && incomplete == other.incomplete;
  }
  bool operator!=(const ModelScan& other) const { return !(*this == other); }
};

// Every model of `repository` by name (Note [what is a model] in the .cc); entries that are not
// models are logged (once per name and reason when `log_skips`) and left out.
std::map<std::string, ModelScan> ScanRepository(const std::string& repository, bool log_skips = true);

// The model `name` of `repository` as scanned now; nullopt when the repository has no model of
// that name. `name` is only compared with the repository's entries, never joined into a path.
std::optional<ModelScan> ScanModel(const std::string& repository, const std::string& name);

// One model a poll acts on: `scan` to bring it in line with, nullopt when its folder left.
struct PollChange {
  std::string name;
  std::optional<ModelScan> scan;
  absl::string_view what;  // "appeared", "changed" or "left", for the log
};

// Note [atomic pickup]'s decision: the models whose scan differs from what they were last
// synced with (`synced`: per model the repository knows, nullopt once unloaded) and that
// `previous` and `now` — two polls in a row — scanned the same way. In name order.
std::vector<PollChange> PollChanges(const std::map<std::string, ModelScan>& previous,
                                    const std::map<std::string, ModelScan>& now,
                                    const std::map<std::string, std::optional<ModelScan>>& synced);

// OK when `name` is a plain model name; INVALID_ARGUMENT with the reason for anything path-like
// (empty, '/', '\', NUL, starting with '.', longer than 255 bytes).
absl::Status CheckModelName(absl::string_view name);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_REPOSITORY_SCAN_H_
