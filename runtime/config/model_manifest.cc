#include "runtime/config/model_manifest.h"

#include <openssl/evp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/base/precision.h"
#include "runtime/execution/batch.h"

namespace seqserve {
namespace {

absl::Status Mismatch(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat("manifest check failed: ", what));
}

// The release part of a version string: "2.11.0+cu130" -> "2.11.0".
std::string Release(const std::string& version) { return version.substr(0, version.find('+')); }

const v1::ReferenceTensor* FindTensor(const google::protobuf::RepeatedPtrField<v1::ReferenceTensor>& tensors,
                                      const std::string& name) {
  for (const v1::ReferenceTensor& t : tensors) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// Whether a ReferenceTensor of `type` holds its values in int64_data (else in float_data).
bool StoredAsInt64(DataType type) { return IsInteger(type) || type == DataType::kBool; }

double ReferenceValue(const v1::ReferenceTensor& t, DataType type, int element) {
  return StoredAsInt64(type) ? static_cast<double>(t.int64_data(element)) : t.float_data(element);
}

// Rows and sequence length of a reference, from its first input; checks every tensor's shape.
absl::Status CheckReferenceShapes(const v1::Reference& ref, int index, const ModelSignature& sig, int64_t* rows,
                                  int64_t* length) {
  const std::string which = absl::StrCat("reference ", index);
  const v1::ReferenceTensor* first = FindTensor(ref.inputs(), sig.inputs[0].name);
  if (first == nullptr) return Mismatch(absl::StrCat(which, " lacks input '", sig.inputs[0].name, "' of config.pbtxt"));
  *rows = first->shape().empty() ? 0 : first->shape(0);
  *length = 0;
  if (sig.has_sequence()) {
    for (const TensorSpec& spec : sig.inputs) {  // the first sequence input present says it
      const v1::ReferenceTensor* t = spec.carries_sequence ? FindTensor(ref.inputs(), spec.name) : nullptr;
      if (t != nullptr && t->shape_size() > sig.sequence_axis + 1) {
        *length = t->shape(sig.sequence_axis + 1);
        break;
      }
    }
  }
  if (*rows < 1 || *rows > sig.max_batch_size ||
      (sig.has_sequence() && (*length < 1 || *length > sig.max_sequence_length))) {
    return Mismatch(absl::StrCat(which, " has ", *rows, " rows of length ", *length,
                                 ", outside the config's max_batch_size and sequence.max_length"));
  }
  for (const auto* group : {&sig.inputs, &sig.outputs}) {
    const bool inputs = group == &sig.inputs;
    for (const TensorSpec& spec : *group) {
      const v1::ReferenceTensor* t = FindTensor(inputs ? ref.inputs() : ref.outputs(), spec.name);
      if (t == nullptr) {
        return Mismatch(
            absl::StrCat(which, " lacks ", inputs ? "input" : "output", " '", spec.name, "' of config.pbtxt"));
      }
      const std::vector<int64_t> want = BatchedShape(sig, spec, *rows, *length);
      const std::vector<int64_t> got(t->shape().begin(), t->shape().end());
      const int64_t values = StoredAsInt64(spec.dtype) ? t->int64_data_size() : t->float_data_size();
      if (got != want || values != NumElements(want)) {
        return Mismatch(absl::StrCat(which, " has '", spec.name, "' of shape [", absl::StrJoin(got, ", "), "] with ",
                                     values, " values; config.pbtxt makes it [", absl::StrJoin(want, ", "), "]"));
      }
    }
  }
  return absl::OkStatus();
}

// At most `most` bytes of UTF-8 `text`, cut at a character boundary, "..." when cut.
std::string Abbreviated(const std::string& text, size_t most) {
  if (text.size() <= most) return text;
  size_t end = most;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

}  // namespace

absl::Status CheckCpuFlags(const v1::ModelManifest& manifest, const std::set<std::string>& host) {
  std::vector<std::string> missing;
  for (const std::string& flag : manifest.cpu_flags()) {
    if (host.count(flag) == 0) missing.push_back(flag);
  }
  if (missing.empty()) return absl::OkStatus();
  return Mismatch(absl::StrCat(manifest.model_file().empty() ? "the model" : manifest.model_file(),
                               " was compiled (-march=native) on a CPU with ", absl::StrJoin(missing, ", "),
                               ", which this CPU lacks; pack it on a machine like this one"));
}

absl::StatusOr<std::optional<v1::ModelManifest>> ReadManifest(const std::string& version_dir) {
  const std::filesystem::path path = std::filesystem::path(version_dir) / kManifestFileName;
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot look for ", path.string(), ": ", ec.message()));
  if (!exists) return std::optional<v1::ModelManifest>();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path.string()));
  v1::ModelManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  // Note [manifest fields]: unknown fields are ignored, so a manifest from a newer packer (with
  // fields this server does not know) still loads, checked on the fields it knows.
  options.ignore_unknown_fields = true;
  const auto status = google::protobuf::util::JsonStringToMessage(text.str(), &manifest, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), " does not parse: ", status.message().as_string()));
  }
  return std::optional<v1::ModelManifest>(std::move(manifest));
}

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("OpenSSL has no SHA-256");
  }
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount())) != 1) {
      return absl::InternalError("SHA-256 update failed");
    }
  }
  if (!in.eof()) return absl::DataLossError(absl::StrCat("reading ", path, " failed"));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &size) != 1) return absl::InternalError("SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

absl::Status CheckManifest(const v1::ModelManifest& manifest, const ModelSignature& sig, const std::string& model_file,
                           bool pt2, const std::string& torch_version) {
  const std::string file = std::filesystem::path(model_file).filename().string();
  if (manifest.format() != (pt2 ? "pt2" : "torchscript")) {
    return Mismatch(absl::StrCat("the manifest says format '", manifest.format(), "' but config.pbtxt's platform runs ",
                                 pt2 ? "an AOTInductor package (pt2)" : "TorchScript"));
  }
  if (!manifest.model_file().empty() && manifest.model_file() != file) {
    return Mismatch(
        absl::StrCat("the manifest describes '", manifest.model_file(), "' but config.pbtxt loads '", file, "'"));
  }
  if (!manifest.precision().empty() && !PrecisionFromName(manifest.precision()).has_value()) {
    return Mismatch(absl::StrCat("the manifest says precision '", manifest.precision(),
                                 "', not one of FP32, BF16, FP16, INT8_DYNAMIC"));
  }
  absl::StatusOr<std::string> sha = Sha256OfFile(model_file);
  if (!sha.ok()) return sha.status();
  if (*sha != absl::AsciiStrToLower(manifest.sha256())) {
    return Mismatch(absl::StrCat(file, " does not match its manifest: SHA-256 ", *sha, ", manifest ", manifest.sha256(),
                                 " (the file changed after packing; re-pack it)"));
  }
  if (pt2 && Release(manifest.pytorch_version()) != Release(torch_version)) {
    return Mismatch(absl::StrCat(file, " was compiled by PyTorch ", manifest.pytorch_version(),
                                 " but this server runs libtorch ", torch_version,
                                 "; an AOTInductor package runs only in the PyTorch release that compiled it: "
                                 "re-pack it with torch==",
                                 Release(torch_version)));
  }
  if (pt2 && manifest.device() != "cuda") {
    absl::Status cpu = CheckCpuFlags(manifest, HostCpuFlags());
    if (!cpu.ok()) return cpu;
  }
  // A range with max 0 was not recorded (a hand-written manifest); a .pt2 must record both, as
  // its package refuses sizes outside them.
  auto within = [&](const v1::DimensionRange& range, int64_t most, absl::string_view what) -> absl::Status {
    if (range.max() == 0) {
      if (!pt2) return absl::OkStatus();
      return Mismatch(absl::StrCat("the manifest of ", file, " does not record its exported range of ", what));
    }
    if (range.min() > 1) {
      return Mismatch(absl::StrCat(file, " was exported for ", what, " from ", range.min(),
                                   " only, but requests may be smaller; re-pack with a minimum of 1"));
    }
    if (most > range.max()) {
      return Mismatch(absl::StrCat("config.pbtxt allows ", what, " up to ", most, " but ", file,
                                   " was exported for at most ", range.max(), "; lower it or re-pack"));
    }
    return absl::OkStatus();
  };
  absl::Status status = within(manifest.batch(), sig.max_batch_size, "batches (max_batch_size)");
  if (status.ok() && sig.has_sequence()) {
    status = within(manifest.sequence(), sig.max_sequence_length, "sequences (sequence.max_length)");
  }
  if (!status.ok()) return status;
  for (int i = 0; i < manifest.references_size(); ++i) {
    int64_t rows = 0, length = 0;
    status = CheckReferenceShapes(manifest.references(i), i, sig, &rows, &length);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status CheckReferences(BatchRunner& runner, const ModelSignature& sig, const v1::ModelManifest& manifest,
                             const std::vector<Tolerance>& tolerances) {
  for (int i = 0; i < manifest.references_size(); ++i) {
    const v1::Reference& ref = manifest.references(i);
    int64_t rows = 0, length = 0;
    absl::Status status = CheckReferenceShapes(ref, i, sig, &rows, &length);
    if (!status.ok()) return status;
    Batch batch;
    batch.requests.push_back(SyntheticRequest(sig, rows, length, [&](const TensorSpec& spec, std::string& data) {
      const v1::ReferenceTensor& t = *FindTensor(ref.inputs(), spec.name);
      const size_t size = ElementSize(spec.dtype);
      for (size_t e = 0; e * size < data.size(); ++e) {
        data.replace(e * size, size, EncodeScalar(spec.dtype, ReferenceValue(t, spec.dtype, static_cast<int>(e))));
      }
    }));
    batch.rows = rows;
    batch.padded_length = length;
    std::vector<InferenceResponse> responses(1);
    status = runner.Run(batch, responses);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("reference ", i, " failed to run: ", status.message()));
    }
    if (responses[0].outputs.size() != sig.outputs.size()) {
      return Mismatch(absl::StrCat("reference ", i, " got ", responses[0].outputs.size(),
                                   " outputs, config.pbtxt declares ", sig.outputs.size()));
    }
    for (size_t k = 0; k < sig.outputs.size(); ++k) {
      const TensorSpec& spec = sig.outputs[k];
      const Tensor& got = responses[0].outputs[k];
      const std::vector<int64_t> want_shape = BatchedShape(sig, spec, rows, length);
      if (got.shape != want_shape ||
          got.data.size() != static_cast<size_t>(NumElements(want_shape)) * ElementSize(spec.dtype)) {
        return Mismatch(absl::StrCat("reference ", i, " output '", spec.name, "' came back as [",
                                     absl::StrJoin(got.shape, ", "), "], not [", absl::StrJoin(want_shape, ", "), "]"));
      }
      const v1::ReferenceTensor& want = *FindTensor(ref.outputs(), spec.name);
      const size_t size = ElementSize(spec.dtype);
      const Tolerance tol = tolerances[k];
      for (int64_t e = 0; e < NumElements(got.shape); ++e) {
        const double g = DecodeScalar(spec.dtype, got.data.data() + e * size);
        const double w = ReferenceValue(want, spec.dtype, static_cast<int>(e));
        if (g != w && !(std::abs(g - w) <= tol.atol + tol.rtol * std::abs(w))) {  // g != w: equal infinities pass
          return Mismatch(absl::StrCat("reference ", i, " (", Abbreviated(ref.text(), 40), ") output '", spec.name,
                                       "' element ", e, " is ", g, " but was ", w, " when packed (tolerance atol ",
                                       tol.atol, " + rtol ", tol.rtol,
                                       "): the model computes different numbers here than where it was packed"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace seqserve
