// KServe v2 REST inference bodies <-> the runtime's types: the JSON of an infer request
// (tensors in `data`, flat or nested, or in Triton's binary tensor extension) into an
// InferenceRequest, and an InferenceResponse into the JSON (and binary) answer. Pure
// functions, thread-safe; untrusted input is parsed without recursion (fuzzed by
// tests/fuzz/fuzz_rest_request.cc).
//
// Request body: `{"id", "parameters", "inputs": [{"name", "shape", "datatype", "parameters",
// "data"}], "outputs": [{"name", "parameters"}]}`. With the binary extension the body is that
// JSON, `json_length` bytes (the Inference-Header-Content-Length header), followed by the
// binary inputs, in order, each `parameters.binary_data_size` bytes of little-endian elements.
// The body is read in one pass, `data` straight into the tensors (Note [JSON straight into
// tensors] in kserve_json.cc). Honoured parameters: request "timeout" (µs, tightens the deadline, as over gRPC) and
// "binary_data_output" (all outputs binary); output "binary_data". JSON `data` holds numbers
// (BOOL: true/false); FP16 and BF16 accept JSON numbers too (rounded to nearest), which
// Triton does not.
#ifndef SEQSERVE_SERVER_API_KSERVE_JSON_H_
#define SEQSERVE_SERVER_API_KSERVE_JSON_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/execution/inference_request.h"
#include "server/admission/request_memory.h"

namespace seqserve {

// How the client asked for the outputs of one request.
struct RestOutputFormat {
  bool all_binary = false;                  // request parameter binary_data_output
  std::vector<std::string> binary_outputs;  // outputs asked for with binary_data: true
  std::vector<std::string> json_outputs;    // outputs asked for with binary_data: false
  bool Binary(const std::string& name) const;
};

struct RestInferRequest {
  std::unique_ptr<InferenceRequest> request;
  RestOutputFormat format;
};

// What decoding may take, checked from each input's "datatype" and "shape" before its data
// is read.
struct RestDecodeLimits {
  // Most elements over all inputs (--max-request-elements); 0 = no limit.
  int64_t max_elements = 0;
  // Grown by each decoded tensor's bytes before they are written (Note [request bytes]); null:
  // not counted.
  RequestMemory::Charge* charge = nullptr;
};

// Parses an infer body for model `model_name`, version `version` (0 = latest). Binary inputs
// borrow from `body` (Tensor::borrowed), which must outlive the request. INVALID_ARGUMENT with
// what to fix for anything malformed; RESOURCE_EXHAUSTED when a tensor does not fit `limits`'
// charge.
absl::StatusOr<RestInferRequest> ParseRestInfer(const std::string& model_name, int64_t version, absl::string_view body,
                                                std::optional<size_t> json_length, const RestDecodeLimits& limits = {});

struct RestInferBody {
  std::string body;
  // Set when binary outputs follow the JSON: the Inference-Header-Content-Length to send.
  std::optional<size_t> json_length;
};

// Encodes `result` (its outputs are moved from) as the answer to a request with `id`.
RestInferBody EncodeRestInfer(const std::string& model_name, const std::string& id, const RestOutputFormat& format,
                              InferenceResponse& result);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_JSON_H_
