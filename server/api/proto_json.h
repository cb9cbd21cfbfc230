// A protobuf message as the JSON that KServe v2 REST clients expect, which differs from
// protobuf's canonical JSON mapping (google::protobuf::util::MessageToJsonString) in two ways:
// 64-bit integers are JSON numbers, not strings (shape: [1, 8], not ["1", "8"]); and fields keep
// their proto names (max_batch_size), with scalar fields printed even when they hold their
// default (perf_analyzer reads "max_batch_size": 0). Enums print as their names, maps as
// objects, bytes as base64; unset message fields are left out.
#ifndef SEQSERVE_SERVER_API_PROTO_JSON_H_
#define SEQSERVE_SERVER_API_PROTO_JSON_H_

#include <string>

#include <google/protobuf/message.h>

namespace seqserve {

std::string ProtoToJson(const google::protobuf::Message& message);

// The value of `field` (a repeated message field of `message`) as a JSON array, e.g. the
// repository index's `models` (the REST route answers the bare array).
std::string RepeatedFieldToJson(const google::protobuf::Message& message, const std::string& field);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_PROTO_JSON_H_
