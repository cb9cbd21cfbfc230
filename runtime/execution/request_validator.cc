#include "runtime/execution/request_validator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace seqserve {
namespace {

std::string ShapeString(absl::Span<const int64_t> shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

std::string Names(const std::vector<TensorSpec>& specs) {
  return absl::StrJoin(specs, ", ",
                       [](std::string* out, const TensorSpec& s) { absl::StrAppend(out, "'", s.name, "'"); });
}

// The coordinates of row-major element `index` in `shape`, e.g. "[0, 5]".
std::string Coordinates(absl::Span<const int64_t> shape, size_t index) {
  std::vector<int64_t> at(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    at[i] = static_cast<int64_t>(index % static_cast<size_t>(shape[i]));
    index /= static_cast<size_t>(shape[i]);
  }
  return ShapeString(at);
}

int FindSpec(const std::vector<TensorSpec>& specs, absl::string_view name) {
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

// Checks one input's dtype, shape and byte size; returns its sequence length (0 if none).
absl::StatusOr<int64_t> CheckInput(const ModelSignature& sig, const TensorSpec& spec, const Tensor& t) {
  if (t.dtype != spec.dtype) {
    return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has datatype ", DataTypeName(t.dtype),
                                                   ", model expects ", DataTypeName(spec.dtype)));
  }
  std::vector<int64_t> expected = {-1};
  expected.insert(expected.end(), spec.dims.begin(), spec.dims.end());
  if (t.shape.size() != expected.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input '", spec.name, "' has shape ", ShapeString(t.shape), " (rank ", t.shape.size(), "), model expects ",
        ShapeString(expected), " (rank ", expected.size(), ", the first dimension is the row dimension)"));
  }
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has negative dimension ", t.shape[i],
                                                     " in shape ", ShapeString(t.shape)));
    }
    if (t.shape[i] == 0) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' is empty: shape ", ShapeString(t.shape),
                                                     " (every dimension must be at least 1)"));
    }
    if (expected[i] != -1 && t.shape[i] != expected[i]) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has shape ", ShapeString(t.shape),
                                                     ", model expects ", ShapeString(expected)));
    }
  }
  const std::optional<int64_t> elements = CheckedNumElements(t.shape);
  uint64_t want = 0;
  if (!elements.has_value() || __builtin_mul_overflow(static_cast<uint64_t>(*elements), ElementSize(t.dtype), &want)) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", spec.name, "' has shape ", ShapeString(t.shape), ": too many elements"));
  }
  if (t.bytes().size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has ", t.bytes().size(),
                                                   " bytes of data, but shape ", ShapeString(t.shape), " of ",
                                                   DataTypeName(t.dtype), " needs ", want));
  }
  if (spec.has_range) {
    if (std::optional<OutOfRange> bad = FindOutOfRange(t.dtype, t.bytes(), spec.range_begin, spec.range_end)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has value ", bad->value, " at ",
                                                     Coordinates(t.shape, bad->index), ", outside its valid range [",
                                                     spec.range_begin, ", ", spec.range_end, ")"));
    }
  }
  return spec.carries_sequence ? t.shape[1 + sig.sequence_axis] : 0;
}

}  // namespace

absl::Status ValidateRequest(const ModelSignature& sig, InferenceRequest& request) {
  // Place each input at its signature index; report missing, extra and duplicate inputs.
  std::vector<Tensor> ordered(sig.inputs.size());
  std::vector<bool> seen(sig.inputs.size(), false);
  for (Tensor& t : request.inputs) {
    const int index = FindSpec(sig.inputs, t.name);
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown input '", t.name, "'; model '", request.model_name,
                                                     "' expects inputs ", Names(sig.inputs)));
    }
    if (seen[index]) {
      return absl::InvalidArgumentError(absl::StrCat("input '", t.name, "' is given more than once"));
    }
    seen[index] = true;
    ordered[index] = std::move(t);
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    if (!seen[i]) {
      return absl::InvalidArgumentError(absl::StrCat("missing input '", sig.inputs[i].name, "'; model '",
                                                     request.model_name, "' expects inputs ", Names(sig.inputs)));
    }
  }
  request.inputs = std::move(ordered);

  int64_t rows = -1;
  int64_t length = 0;
  const TensorSpec* length_source = nullptr;
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    const TensorSpec& spec = sig.inputs[i];
    const Tensor& t = request.inputs[i];
    absl::StatusOr<int64_t> seq = CheckInput(sig, spec, t);
    if (!seq.ok()) return seq.status();
    if (rows >= 0 && t.shape[0] != rows) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "' has ", t.shape[0], " rows but input '",
                                                     sig.inputs[0].name, "' has ", rows,
                                                     "; all inputs need the same rows"));
    }
    rows = t.shape[0];
    if (!spec.carries_sequence) continue;
    if (length_source != nullptr && *seq != length) {
      return absl::InvalidArgumentError(absl::StrCat("inputs '", length_source->name, "' and '", spec.name,
                                                     "' disagree on the sequence length (", length, " vs ", *seq, ")"));
    }
    length = *seq;
    length_source = &spec;
  }
  if (rows > sig.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("request has ", rows, " rows; model '", request.model_name,
                                                   "' accepts at most ", sig.max_batch_size, " per request"));
  }
  if (sig.has_sequence() && length > sig.max_sequence_length) {
    return absl::InvalidArgumentError(absl::StrCat("sequence length ", length, " exceeds model '", request.model_name,
                                                   "' maximum of ", sig.max_sequence_length));
  }

  request.output_indices.clear();
  if (request.requested_outputs.empty()) {
    for (size_t i = 0; i < sig.outputs.size(); ++i) request.output_indices.push_back(static_cast<int>(i));
  }
  for (const std::string& name : request.requested_outputs) {
    const int index = FindSpec(sig.outputs, name);
    if (index < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown output '", name, "'; model '", request.model_name,
                                                     "' has outputs ", Names(sig.outputs)));
    }
    request.output_indices.push_back(index);
  }
  request.rows = rows;
  request.sequence_length = length;
  return absl::OkStatus();
}

}  // namespace seqserve
