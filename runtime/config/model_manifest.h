// Self-checking loads: the manifest `seqserve-model.json` that scripts/seqserve-pack writes beside
// a model file (schema: proto/seqserve/v1/model_manifest.proto), and the checks a version with a
// manifest passes before it serves:
//   1. CheckManifest, before the model loads: the file's SHA-256 is the packed one; the format
//      matches config `platform`; a .pt2 was compiled by this server's PyTorch release, on a CPU
//      whose instruction sets this one has (cpu_flags); the
//      config's max_batch_size and sequence.max_length lie within the exported ranges; every
//      reference names the config's inputs and outputs with fitting shapes.
//   2. CheckReferences, on each loaded instance: it answers every reference input with outputs
//      within the config's per-output tolerance of the packed ones.
// Each failure says which check failed and what to do; the version is then UNAVAILABLE and the
// other models serve. A version without a manifest is loaded without these checks.
// Plain functions, safe to call from several threads at once (the repository runs
// CheckReferences on each instance's thread, each with its own runner).
#ifndef SEQSERVE_RUNTIME_CONFIG_MODEL_MANIFEST_H_
#define SEQSERVE_RUNTIME_CONFIG_MODEL_MANIFEST_H_

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/base/data_type.h"
#include "runtime/base/tolerance.h"
#include "runtime/execution/batch_runner.h"
#include "runtime/execution/model_signature.h"
#include "runtime/resources/host_cpu.h"
#include "seqserve/v1/model_manifest.pb.h"

namespace seqserve {

// The manifest's file name inside a version directory.
inline constexpr char kManifestFileName[] = "seqserve-model.json";

// Reads `<version_dir>/seqserve-model.json`: nullopt when there is none; INVALID_ARGUMENT when it
// does not parse.
absl::StatusOr<std::optional<v1::ModelManifest>> ReadManifest(const std::string& version_dir);

// Lower-case hex SHA-256 of a file's contents; NOT_FOUND when it cannot be read.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

// Check 1 above. `model_file` is the path config.pbtxt points at; `pt2` whether config's
// platform is pytorch_aoti; `torch_version` the server's libtorch release ("2.11.0").
// FAILED_PRECONDITION with the reason.
absl::Status CheckManifest(const v1::ModelManifest& manifest, const ModelSignature& signature,
                           const std::string& model_file, bool pt2, const std::string& torch_version);

// Part of check 1 for a .pt2 on CPU: every flag in manifest.cpu_flags is in `host`.
absl::Status CheckCpuFlags(const v1::ModelManifest& manifest, const std::set<std::string>& host);

// Check 2 above, on one loaded runner. `tolerances` has one entry per signature output.
// FAILED_PRECONDITION naming the reference, output, element and both values on a mismatch; the
// runner's own error when it fails to compute one.
absl::Status CheckReferences(BatchRunner& runner, const ModelSignature& signature, const v1::ModelManifest& manifest,
                             const std::vector<Tolerance>& tolerances);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_CONFIG_MODEL_MANIFEST_H_
