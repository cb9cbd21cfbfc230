#include "server/kserve_json.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/data_type.h"

namespace seqserve {
namespace {

using rapidjson::Value;
// Writes NaN and infinities as NaN / Infinity (as Python's json does) rather than failing.
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                     rapidjson::CrtAllocator, rapidjson::kWriteNanAndInfFlag>;

absl::Status Invalid(absl::string_view input, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("input '", input, "': ", what));
}

const Value* Member(const Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

template <typename T>
void AppendBytes(T value, std::string& out) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Appends one JSON element as `type`; false (with `error`) when it is not a value of that type.
bool AppendElement(const Value& v, DataType type, std::string& out, std::string& error) {
  auto integer = [&](int64_t lo, int64_t hi) -> std::optional<int64_t> {
    if (!v.IsInt64()) {
      error = absl::StrCat("data holds a value that is not an integer, for datatype ", DataTypeName(type));
      return std::nullopt;
    }
    const int64_t x = v.GetInt64();
    if (x < lo || x > hi) {
      error = absl::StrCat("data value ", x, " is out of range for datatype ", DataTypeName(type));
      return std::nullopt;
    }
    return x;
  };
  switch (type) {
    case DataType::kBool:
      if (!v.IsBool()) {
        error = "data holds a value that is not true/false, for datatype BOOL";
        return false;
      }
      out.push_back(v.GetBool() ? 1 : 0);
      return true;
    case DataType::kUint8: {
      auto x = integer(0, 255);
      if (x) AppendBytes(static_cast<uint8_t>(*x), out);
      return x.has_value();
    }
    case DataType::kInt8: {
      auto x = integer(-128, 127);
      if (x) AppendBytes(static_cast<int8_t>(*x), out);
      return x.has_value();
    }
    case DataType::kInt16: {
      auto x = integer(std::numeric_limits<int16_t>::min(), std::numeric_limits<int16_t>::max());
      if (x) AppendBytes(static_cast<int16_t>(*x), out);
      return x.has_value();
    }
    case DataType::kInt32: {
      auto x = integer(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
      if (x) AppendBytes(static_cast<int32_t>(*x), out);
      return x.has_value();
    }
    case DataType::kInt64: {
      auto x = integer(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
      if (x) AppendBytes(*x, out);
      return x.has_value();
    }
    case DataType::kFp16:
    case DataType::kBf16:
    case DataType::kFp32:
    case DataType::kFp64:
      if (!v.IsNumber()) {
        error = absl::StrCat("data holds a value that is not a number, for datatype ", DataTypeName(type));
        return false;
      }
      if (type == DataType::kFp32) {
        AppendBytes(static_cast<float>(v.GetDouble()), out);
      } else if (type == DataType::kFp64) {
        AppendBytes(v.GetDouble(), out);
      } else {
        out += EncodeScalar(type, v.GetDouble());
      }
      return true;
    case DataType::kInvalid: break;
  }
  error = "unsupported datatype";
  return false;
}

// Flattens `data` (nested arrays, any depth, walked without recursion) into `out`; returns the
// element count. `json_bytes` bounds the reservation: the shape is the client's word, the text
// is what arrived (each element takes at least two bytes of it).
absl::StatusOr<int64_t> FlattenData(const std::string& name, const Value& data, DataType type, int64_t expected,
                                    size_t json_bytes, std::string& out) {
  if (!data.IsArray()) return Invalid(name, "`data` must be an array");
  const int64_t likely = std::min<int64_t>(std::max<int64_t>(expected, 0), static_cast<int64_t>(json_bytes / 2 + 1));
  out.reserve(static_cast<size_t>(likely) * ElementSize(type));
  std::vector<std::pair<const Value*, rapidjson::SizeType>> stack = {{&data, 0}};
  int64_t count = 0;
  std::string error;
  while (!stack.empty()) {
    auto& [array, index] = stack.back();
    if (index == array->Size()) {
      stack.pop_back();
      continue;
    }
    const Value& v = (*array)[index++];
    if (v.IsArray()) {
      stack.emplace_back(&v, 0);
      continue;
    }
    if (++count > expected) break;  // reported below, before reading more
    if (!AppendElement(v, type, out, error)) return Invalid(name, error);
  }
  return count;
}

absl::Status ParseInput(const Value& input, size_t json_bytes, absl::string_view binary, size_t& binary_offset,
                        Tensor& t) {
  const Value* name = Member(input, "name");
  if (name == nullptr || !name->IsString()) return absl::InvalidArgumentError("every input needs a string \"name\"");
  t.name.assign(name->GetString(), name->GetStringLength());
  const Value* datatype = Member(input, "datatype");
  if (datatype == nullptr || !datatype->IsString()) return Invalid(t.name, "needs a string \"datatype\"");
  const absl::string_view type_name(datatype->GetString(), datatype->GetStringLength());
  std::optional<DataType> type = DataTypeFromName(type_name);
  if (!type.has_value()) {
    return Invalid(t.name, absl::StrCat("datatype '", type_name,
                                        "' is not supported (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, BF16, "
                                        "FP32, FP64)"));
  }
  t.dtype = *type;
  const Value* shape = Member(input, "shape");
  if (shape == nullptr || !shape->IsArray()) return Invalid(t.name, "needs a \"shape\" array");
  for (const Value& d : shape->GetArray()) {
    if (!d.IsInt64()) return Invalid(t.name, "\"shape\" must hold integers");
    t.shape.push_back(d.GetInt64());
  }
  // Invalid shapes (negative, overflowing) are reported by ValidateRequest, with context.
  const int64_t expected = CheckedNumElements(t.shape).value_or(0);
  const Value* binary_size =
      Member(input, "parameters") ? Member(*Member(input, "parameters"), "binary_data_size") : nullptr;
  const Value* data = Member(input, "data");
  if (binary_size != nullptr) {
    if (!binary_size->IsUint64()) return Invalid(t.name, "parameters.binary_data_size must be a non-negative integer");
    if (data != nullptr) return Invalid(t.name, "has both \"data\" and parameters.binary_data_size; send one");
    const uint64_t size = binary_size->GetUint64();
    if (size > binary.size() - binary_offset) {
      return Invalid(t.name, absl::StrCat("binary_data_size ", size, " runs past the ", binary.size(),
                                          " bytes of binary data after the JSON (Inference-Header-Content-Length)"));
    }
    t.borrowed = binary.substr(binary_offset, size);
    binary_offset += size;
    return absl::OkStatus();  // size against shape: ValidateRequest
  }
  if (data == nullptr) return Invalid(t.name, "needs \"data\" (or parameters.binary_data_size with binary data)");
  absl::StatusOr<int64_t> count = FlattenData(t.name, *data, t.dtype, expected, json_bytes, t.data);
  if (!count.ok()) return count.status();
  if (*count != expected) {
    return Invalid(t.name, absl::StrCat(*count > expected ? "more than " : "", *count > expected ? expected : *count,
                                        " elements in data but its shape needs ", expected));
  }
  return absl::OkStatus();
}

absl::Status ParseParameters(const Value& parameters, InferenceRequest& request, RestOutputFormat& format) {
  if (!parameters.IsObject()) return absl::InvalidArgumentError("\"parameters\" must be an object");
  if (const Value* timeout = Member(parameters, "timeout")) {
    if (!timeout->IsInt64() || timeout->GetInt64() < 0) {
      return absl::InvalidArgumentError("parameter 'timeout' must be a non-negative integer in microseconds");
    }
    if (timeout->GetInt64() > 0) request.deadline = absl::Now() + absl::Microseconds(timeout->GetInt64());
  }
  if (const Value* binary = Member(parameters, "binary_data_output")) {
    if (!binary->IsBool()) return absl::InvalidArgumentError("parameter 'binary_data_output' must be true or false");
    format.all_binary = binary->GetBool();
  }
  return absl::OkStatus();
}

// JSON numbers for one output's elements.
void WriteData(const Tensor& t, JsonWriter& out) {
  const absl::string_view bytes = t.bytes();
  const size_t size = ElementSize(t.dtype);
  const size_t n = size == 0 ? 0 : bytes.size() / size;
  out.StartArray();
  char text[32];
  for (size_t i = 0; i < n; ++i) {
    const char* e = bytes.data() + i * size;
    switch (t.dtype) {
      case DataType::kBool: out.Bool(*e != 0); break;
      case DataType::kUint8: out.Uint(static_cast<uint8_t>(*e)); break;
      case DataType::kInt8: out.Int(static_cast<int8_t>(*e)); break;
      case DataType::kInt16: {
        int16_t x;
        std::memcpy(&x, e, 2);
        out.Int(x);
        break;
      }
      case DataType::kInt32: {
        int32_t x;
        std::memcpy(&x, e, 4);
        out.Int(x);
        break;
      }
      case DataType::kInt64: {
        int64_t x;
        std::memcpy(&x, e, 8);
        out.Int64(x);
        break;
      }
      case DataType::kFp32: {
        // The shortest text that reads back as the same float (not the double's 17 digits).
        float x;
        std::memcpy(&x, e, 4);
        if (!std::isfinite(x)) {
          out.Double(x);
          break;
        }
        const auto r = std::to_chars(text, text + sizeof(text), x);
        out.RawValue(text, static_cast<size_t>(r.ptr - text), rapidjson::kNumberType);
        break;
      }
      case DataType::kFp16:
      case DataType::kBf16:
      case DataType::kFp64: out.Double(DecodeScalar(t.dtype, e)); break;
      case DataType::kInvalid: break;
    }
  }
  out.EndArray();
}

}  // namespace

bool RestOutputFormat::Binary(const std::string& name) const {
  if (std::find(binary_outputs.begin(), binary_outputs.end(), name) != binary_outputs.end()) return true;
  if (std::find(json_outputs.begin(), json_outputs.end(), name) != json_outputs.end()) return false;
  return all_binary;
}

absl::StatusOr<RestInferRequest> ParseRestInfer(const std::string& model_name, int64_t version, absl::string_view body,
                                                std::optional<size_t> json_length) {
  absl::string_view json = body;
  absl::string_view binary;
  if (json_length.has_value()) {
    if (*json_length > body.size()) {
      return absl::InvalidArgumentError(absl::StrCat("Inference-Header-Content-Length ", *json_length,
                                                     " is more than the body's ", body.size(), " bytes"));
    }
    json = body.substr(0, *json_length);
    binary = body.substr(*json_length);
  }
  rapidjson::Document doc;
  // Iterative: deeply nested input cannot exhaust the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request body is not valid JSON (error at byte ", doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return absl::InvalidArgumentError("request body must be a JSON object");
  RestInferRequest parsed;
  parsed.request = std::make_unique<InferenceRequest>();
  InferenceRequest& request = *parsed.request;
  request.model_name = model_name;
  request.model_version = version;
  if (const Value* id = Member(doc, "id")) {
    if (!id->IsString()) return absl::InvalidArgumentError("\"id\" must be a string");
    request.id.assign(id->GetString(), id->GetStringLength());
  }
  if (const Value* parameters = Member(doc, "parameters")) {
    absl::Status status = ParseParameters(*parameters, request, parsed.format);
    if (!status.ok()) return status;
  }
  const Value* inputs = Member(doc, "inputs");
  if (inputs == nullptr || !inputs->IsArray()) return absl::InvalidArgumentError("request needs an \"inputs\" array");
  size_t binary_offset = 0;
  for (const Value& input : inputs->GetArray()) {
    Tensor t;
    absl::Status status = ParseInput(input, json.size(), binary, binary_offset, t);
    if (!status.ok()) return status;
    request.inputs.push_back(std::move(t));
  }
  if (binary_offset != binary.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(binary.size() - binary_offset, " bytes of binary data after the JSON belong to no input"));
  }
  if (const Value* outputs = Member(doc, "outputs")) {
    if (!outputs->IsArray()) return absl::InvalidArgumentError("\"outputs\" must be an array");
    for (const Value& output : outputs->GetArray()) {
      const Value* name = Member(output, "name");
      if (name == nullptr || !name->IsString())
        return absl::InvalidArgumentError("every output needs a string \"name\"");
      std::string output_name(name->GetString(), name->GetStringLength());
      const Value* parameters = Member(output, "parameters");
      const Value* binary_data = parameters != nullptr ? Member(*parameters, "binary_data") : nullptr;
      if (binary_data != nullptr) {
        if (!binary_data->IsBool())
          return absl::InvalidArgumentError("output parameter 'binary_data' must be true or false");
        (binary_data->GetBool() ? parsed.format.binary_outputs : parsed.format.json_outputs).push_back(output_name);
      }
      request.requested_outputs.push_back(std::move(output_name));
    }
  }
  return parsed;
}

RestInferBody EncodeRestInfer(const std::string& model_name, const std::string& id, const RestOutputFormat& format,
                              InferenceResponse& result) {
  rapidjson::StringBuffer buffer;
  JsonWriter out(buffer);
  std::vector<absl::string_view> binary;  // appended after the JSON, copied once
  size_t binary_bytes = 0;
  out.StartObject();
  out.Key("model_name");
  out.String(model_name.data(), static_cast<rapidjson::SizeType>(model_name.size()));
  out.Key("model_version");
  out.String(std::to_string(result.model_version).c_str());
  if (!id.empty()) {
    out.Key("id");
    out.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
  }
  out.Key("outputs");
  out.StartArray();
  for (Tensor& t : result.outputs) {
    out.StartObject();
    out.Key("name");
    out.String(t.name.data(), static_cast<rapidjson::SizeType>(t.name.size()));
    out.Key("datatype");
    const absl::string_view type = DataTypeName(t.dtype);
    out.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
    out.Key("shape");
    out.StartArray();
    for (int64_t d : t.shape) out.Int64(d);
    out.EndArray();
    if (format.Binary(t.name)) {
      const absl::string_view bytes = t.bytes();
      out.Key("parameters");
      out.StartObject();
      out.Key("binary_data_size");
      out.Uint64(bytes.size());
      out.EndObject();
      binary.push_back(bytes);
      binary_bytes += bytes.size();
    } else {
      out.Key("data");
      WriteData(t, out);
    }
    out.EndObject();
  }
  out.EndArray();
  out.EndObject();
  RestInferBody encoded;
  encoded.body.reserve(buffer.GetSize() + binary_bytes);
  encoded.body.assign(buffer.GetString(), buffer.GetSize());
  if (!binary.empty()) {
    encoded.json_length = encoded.body.size();
    for (absl::string_view part : binary) encoded.body.append(part.data(), part.size());
  }
  return encoded;
}

}  // namespace seqserve
