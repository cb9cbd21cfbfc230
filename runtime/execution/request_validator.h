// Checks a request against its model's signature before it is queued. Every rule here answers
// INVALID_ARGUMENT with a message that names the tensor and what was expected, so a client
// developer can fix the request without reading the server's code.
#ifndef SEQSERVE_RUNTIME_EXECUTION_REQUEST_VALIDATOR_H_
#define SEQSERVE_RUNTIME_EXECUTION_REQUEST_VALIDATOR_H_

#include "absl/status/status.h"
#include "runtime/execution/inference_request.h"
#include "runtime/execution/model_signature.h"

namespace seqserve {

// Validates `request` against `signature` and normalizes it: inputs are reordered into the
// signature's order; output_indices, rows and sequence_length are filled. On error the request
// is left partially reordered and must not be queued. Thread-compatible.
absl::Status ValidateRequest(const ModelSignature& signature, InferenceRequest& request);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_REQUEST_VALIDATOR_H_
