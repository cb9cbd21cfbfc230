#include "runtime/execution/batch.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace seqserve {
namespace {

// How a tensor [rows, dims...] decomposes around its sequence axis: each row holds `outer`
// chunks of (sequence length x `inner_bytes`). Without a sequence axis a row is one chunk of
// length 1.
struct Layout {
  int64_t outer = 1;
  size_t inner_bytes = 0;
};

Layout LayoutOf(const ModelSignature& sig, const TensorSpec& spec) {
  Layout layout;
  layout.inner_bytes = ElementSize(spec.dtype);
  const int axis = spec.carries_sequence ? sig.sequence_axis : -1;
  for (int i = 0; i < static_cast<int>(spec.dims.size()); ++i) {
    if (i == axis) continue;
    if (axis >= 0 && i < axis) {
      layout.outer *= spec.dims[i];
    } else {
      layout.inner_bytes *= static_cast<size_t>(spec.dims[i]);
    }
  }
  return layout;
}

// Copies `chunks` chunks from src (each src_len x inner bytes) to dst (each dst_len x inner
// bytes). When dst_len > src_len the rest of each dst chunk is filled with `pad` (one element,
// repeated); when dst_len < src_len the tail of each src chunk is dropped.
void CopyChunks(const char* src, int64_t src_len, char* dst, int64_t dst_len, int64_t chunks, size_t inner_bytes,
                const std::string& pad) {
  const size_t copy = static_cast<size_t>(std::min(src_len, dst_len)) * inner_bytes;
  const size_t src_stride = static_cast<size_t>(src_len) * inner_bytes;
  const size_t dst_stride = static_cast<size_t>(dst_len) * inner_bytes;
  if (copy == src_stride && copy == dst_stride) {
    std::memcpy(dst, src, copy * chunks);
    return;
  }
  for (int64_t c = 0; c < chunks; ++c) {
    std::memcpy(dst, src, copy);
    if (dst_stride > copy && !pad.empty()) {
      for (size_t off = copy; off < dst_stride; off += pad.size()) {
        std::memcpy(dst + off, pad.data(), pad.size());
      }
    }
    src += src_stride;
    dst += dst_stride;
  }
}

// Moves `request` to the end of `batch`, keeping its rows and padded length right.
void Append(Batch& batch, std::unique_ptr<InferenceRequest> request) {
  batch.rows += request->rows;
  batch.padded_length = std::max(batch.padded_length, request->sequence_length);
  batch.requests.push_back(std::move(request));
}

}  // namespace

bool IsDead(const InferenceRequest& request, absl::Time now) {
  return (request.cancel != nullptr && request.cancel->cancelled()) || request.deadline <= now;
}

void CompleteDead(std::vector<std::unique_ptr<InferenceRequest>>& dead, absl::Time now, absl::string_view where) {
  for (auto& request : dead) {
    const bool cancelled = request->cancel != nullptr && request->cancel->cancelled();
    const std::string waited = absl::FormatDuration(now - request->timing.received);
    request->done(cancelled
                      ? absl::CancelledError(absl::StrCat("request cancelled by the client while waiting ", where))
                      : absl::DeadlineExceededError(absl::StrCat(
                            "deadline expired after ", waited, " ", where,
                            ", before compute; the server is saturated or the deadline is shorter than one batch")));
  }
  dead.clear();
}

void RemoveDead(Batch& batch, absl::Time now, std::vector<std::unique_ptr<InferenceRequest>>& dead) {
  Batch live;
  for (auto& request : batch.requests) {
    if (IsDead(*request, now)) {
      dead.push_back(std::move(request));
    } else {
      Append(live, std::move(request));
    }
  }
  batch = std::move(live);
}

std::pair<Batch, Batch> SplitBatch(Batch&& batch) {
  std::pair<Batch, Batch> halves;
  const size_t half = batch.requests.size() / 2;
  for (size_t i = 0; i < batch.requests.size(); ++i) {
    Append(i < half ? halves.first : halves.second, std::move(batch.requests[i]));
  }
  batch.requests.clear();
  return halves;
}

std::vector<int64_t> BatchedShape(const ModelSignature& sig, const TensorSpec& spec, int64_t rows,
                                  int64_t padded_length) {
  std::vector<int64_t> shape = {rows};
  shape.insert(shape.end(), spec.dims.begin(), spec.dims.end());
  if (spec.carries_sequence) shape[1 + sig.sequence_axis] = padded_length;
  return shape;
}

std::unique_ptr<InferenceRequest> SyntheticRequest(
    const ModelSignature& sig, int64_t rows, int64_t length,
    const std::function<void(const TensorSpec& spec, std::string& data)>& fill) {
  auto request = std::make_unique<InferenceRequest>();
  request->rows = rows;
  request->sequence_length = sig.has_sequence() ? length : 0;
  for (const TensorSpec& spec : sig.inputs) {
    Tensor t;
    t.name = spec.name;
    t.dtype = spec.dtype;
    t.shape = BatchedShape(sig, spec, rows, request->sequence_length);
    t.data.resize(static_cast<size_t>(NumElements(t.shape)) * ElementSize(spec.dtype));
    fill(spec, t.data);
    request->inputs.push_back(std::move(t));
  }
  for (size_t i = 0; i < sig.outputs.size(); ++i) request->output_indices.push_back(static_cast<int>(i));
  return request;
}

void AssembleInput(const ModelSignature& sig, int input_index, const Batch& batch, char* dst) {
  const TensorSpec& spec = sig.inputs[input_index];
  const Layout layout = LayoutOf(sig, spec);
  const int64_t dst_len = spec.carries_sequence ? batch.padded_length : 1;
  for (const auto& request : batch.requests) {
    const int64_t src_len = spec.carries_sequence ? request->sequence_length : 1;
    const int64_t chunks = request->rows * layout.outer;
    CopyChunks(request->inputs[input_index].bytes().data(), src_len, dst, dst_len, chunks, layout.inner_bytes,
               spec.pad_bytes);
    dst += static_cast<size_t>(chunks * dst_len) * layout.inner_bytes;
  }
}

absl::Status CheckOutputShape(const ModelSignature& sig, int output_index, const Batch& batch,
                              const std::vector<int64_t>& shape) {
  const TensorSpec& spec = sig.outputs[output_index];
  const std::vector<int64_t> want = BatchedShape(sig, spec, batch.rows, batch.padded_length);
  if (shape != want) {
    return absl::InternalError(absl::StrCat("model returned shape [", absl::StrJoin(shape, ", "), "] for output '",
                                            spec.name, "' but its config.pbtxt implies [", absl::StrJoin(want, ", "),
                                            "] for this batch"));
  }
  return absl::OkStatus();
}

Tensor ExtractOutput(const ModelSignature& sig, int output_index, const Batch& batch, const char* src,
                     int64_t row_offset, const InferenceRequest& request) {
  const TensorSpec& spec = sig.outputs[output_index];
  const Layout layout = LayoutOf(sig, spec);
  const int64_t src_len = spec.carries_sequence ? batch.padded_length : 1;
  const int64_t dst_len = spec.carries_sequence ? request.sequence_length : 1;
  Tensor out;
  out.name = spec.name;
  out.dtype = spec.dtype;
  out.shape = BatchedShape(sig, spec, request.rows, request.sequence_length);
  const int64_t chunks = request.rows * layout.outer;
  out.data.resize(static_cast<size_t>(chunks * dst_len) * layout.inner_bytes);
  src += static_cast<size_t>(row_offset * layout.outer * src_len) * layout.inner_bytes;
  CopyChunks(src, src_len, out.data.data(), dst_len, chunks, layout.inner_bytes, std::string());
  return out;
}

}  // namespace seqserve
