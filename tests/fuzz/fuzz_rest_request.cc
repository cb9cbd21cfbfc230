// libFuzzer target: KServe v2 REST infer bodies. Input: the body, JSON alone; or, when it starts
// with 'B', two bytes of little-endian JSON length (Inference-Header-Content-Length) and then the
// body, JSON followed by binary tensors. Each body goes through ParseRestInfer; a rejection must
// be INVALID_ARGUMENT with a message; a parsed request must have JSON inputs whose bytes match
// their shape and binary inputs that lie inside the body, and then goes through ValidateRequest
// against every model of fuzz_common.h and, where it validates, batch assembly. The parsed inputs
// are also encoded back as a response (as JSON and as binary) and the JSON must parse.
#include <cstddef>
#include <cstdint>
#include <string>

#include <rapidjson/document.h>

#include "fuzz_common.h"
#include "server/api/kserve_json.h"

namespace {

using namespace seqserve_fuzz;

absl::StatusOr<seqserve::RestInferRequest> Parse(absl::string_view body, std::optional<size_t> json_length) {
  return seqserve::ParseRestInfer("fuzz", 0, body, json_length);
}

void CheckEncodes(const seqserve::InferenceRequest& request, bool binary) {
  seqserve::InferenceResponse response;
  for (const seqserve::Tensor& in : request.inputs) {
    seqserve::Tensor out;
    out.name = in.name;
    out.dtype = in.dtype;
    out.shape = in.shape;
    out.data = std::string(in.bytes());
    response.outputs.push_back(std::move(out));
  }
  seqserve::RestOutputFormat format;
  format.all_binary = binary;
  seqserve::RestInferBody encoded = seqserve::EncodeRestInfer("fuzz", request.id, format, response);
  const size_t json = encoded.json_length.value_or(encoded.body.size());
  FUZZ_CHECK(json <= encoded.body.size());
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNanAndInfFlag>(encoded.body.data(), json);
  FUZZ_CHECK(!doc.HasParseError());
  FUZZ_CHECK(doc.IsObject() && doc.HasMember("outputs") && doc["outputs"].Size() == request.inputs.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::optional<size_t> json_length;
  if (input.size() >= 3 && input[0] == 'B') {
    json_length = static_cast<uint8_t>(input[1]) | (static_cast<size_t>(static_cast<uint8_t>(input[2])) << 8);
    input.remove_prefix(3);
  }
  const std::string body(input);  // the server's body buffer: binary inputs borrow from it
  for (const Model& model : Models()) {
    absl::StatusOr<seqserve::RestInferRequest> parsed = Parse(body, json_length);
    if (!parsed.ok()) {
      CheckRejection(parsed.status());
      return 0;
    }
    seqserve::InferenceRequest& request = *parsed->request;
    for (const seqserve::Tensor& t : request.inputs) {
      if (t.borrowed.data() != nullptr) {
        FUZZ_CHECK(t.borrowed.data() >= body.data() &&
                   t.borrowed.data() + t.borrowed.size() <= body.data() + body.size());
      } else {
        const std::optional<int64_t> n = seqserve::CheckedNumElements(t.shape);
        FUZZ_CHECK(n.has_value() ? t.data.size() == static_cast<size_t>(*n) * seqserve::ElementSize(t.dtype)
                                 : t.data.empty());
      }
    }
    if (&model == &Models().front()) {
      CheckEncodes(request, false);
      CheckEncodes(request, true);
    }
    absl::Status status = seqserve::ValidateRequest(model.signature, request);
    if (!status.ok()) {
      CheckRejection(status);
      continue;
    }
    ExerciseBatches(model.signature, std::move(parsed->request));
  }
  return 0;
}
