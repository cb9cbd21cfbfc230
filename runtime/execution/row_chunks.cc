#include "runtime/execution/row_chunks.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "memory/mutex.h"
#include "runtime/base/data_type.h"

namespace seqserve {

struct RowChunks::Assembly {
  explicit Assembly(size_t parts) : responses(parts), remaining(parts) {}

  std::unique_ptr<InferenceRequest> request;
  std::shared_ptr<CancellationFlag> parts_cancel;  // under the client's flag
  Mutex mu;
  std::vector<InferenceResponse> responses ABSL_GUARDED_BY(mu);  // one per part
  absl::Status first_error ABSL_GUARDED_BY(mu);
  size_t remaining ABSL_GUARDED_BY(mu) = 0;

  void PartDone(size_t part, absl::StatusOr<InferenceResponse> result) {
    absl::Status error;
    std::vector<InferenceResponse> parts;
    {
      MutexLock lock(&mu);
      if (!result.ok()) {
        if (first_error.ok()) {
          first_error = result.status();
          parts_cancel->Cancel();  // the others need not run
        }
      } else {
        responses[part] = *std::move(result);
      }
      if (--remaining > 0) return;
      error = first_error;
      parts = std::move(responses);
    }
    // The last part: nothing else touches the assembly now.
    if (!error.ok()) {
      request->done(error);
      return;
    }
    request->done(Concatenate(parts));
  }

  InferenceResponse Concatenate(const std::vector<InferenceResponse>& responses) const {
    InferenceResponse whole;
    whole.model_version = responses.front().model_version;
    for (size_t k = 0; k < responses.front().outputs.size(); ++k) {
      Tensor out;
      out.name = responses.front().outputs[k].name;
      out.dtype = responses.front().outputs[k].dtype;
      out.shape = responses.front().outputs[k].shape;
      size_t bytes = 0;
      for (const InferenceResponse& r : responses) bytes += r.outputs[k].data.size();
      out.data.reserve(bytes);
      for (const InferenceResponse& r : responses) out.data.append(r.outputs[k].data);
      if (!out.shape.empty()) out.shape[0] = request->rows;
      whole.outputs.push_back(std::move(out));
    }
    return whole;
  }
};

RowChunks RowChunks::Join(std::unique_ptr<InferenceRequest> whole,
                          std::vector<std::unique_ptr<InferenceRequest>> parts) {
  RowChunks chunks;
  auto assembly = std::make_shared<Assembly>(parts.size());
  assembly->parts_cancel = std::make_shared<CancellationFlag>(whole->cancel);
  for (size_t index = 0; index < parts.size(); ++index) {
    InferenceRequest& part = *parts[index];
    part.model_name = whole->model_name;
    part.model_version = whole->model_version;
    part.id = whole->id;
    part.deadline = whole->deadline;
    part.cancel = assembly->parts_cancel;
    part.output_indices = whole->output_indices;
    part.requested_outputs = whole->requested_outputs;
    part.timing = whole->timing;  // when split after queueing, its parts were received with it
    part.done = [assembly, index](absl::StatusOr<InferenceResponse> result) {
      assembly->PartDone(index, std::move(result));
    };
  }
  assembly->request = std::move(whole);
  chunks.assembly_ = std::move(assembly);
  chunks.parts_ = std::move(parts);
  return chunks;
}

RowChunks RowChunks::Split(std::unique_ptr<InferenceRequest>& request, int64_t rows_per_part) {
  const InferenceRequest& whole = *request;
  const int64_t count = (whole.rows + rows_per_part - 1) / rows_per_part;
  std::vector<std::unique_ptr<InferenceRequest>> parts;
  parts.reserve(static_cast<size_t>(count));
  for (int64_t p = 0; p < count; ++p) {
    const int64_t first = p * rows_per_part;
    const int64_t rows = std::min(rows_per_part, whole.rows - first);
    auto part = std::make_unique<InferenceRequest>();
    part->rows = rows;
    part->sequence_length = whole.sequence_length;
    part->inputs.reserve(whole.inputs.size());
    for (const Tensor& in : whole.inputs) {
      const absl::string_view bytes = in.bytes();
      const size_t row_bytes = whole.rows > 0 ? bytes.size() / static_cast<size_t>(whole.rows) : 0;
      Tensor slice;
      slice.name = in.name;
      slice.dtype = in.dtype;
      slice.shape = in.shape;
      slice.shape[0] = rows;
      slice.borrowed = bytes.substr(static_cast<size_t>(first) * row_bytes, static_cast<size_t>(rows) * row_bytes);
      part->inputs.push_back(std::move(slice));
    }
    parts.push_back(std::move(part));
  }
  return Join(std::move(request), std::move(parts));
}

std::unique_ptr<InferenceRequest> RowChunks::Abandon() {
  parts_.clear();
  std::unique_ptr<InferenceRequest> request = std::move(assembly_->request);
  assembly_.reset();
  return request;
}

}  // namespace seqserve
