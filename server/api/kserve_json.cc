#include "server/api/kserve_json.h"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/base/data_type.h"
#include "server/admission/request_limits.h"
#include "server/api/kserve_request.h"

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

// Writes the elements of one input's JSON `data` straight into its tensor buffer, sized for
// `expected` elements, as rapidjson's reader hands them over (no DOM): nested arrays are
// flattened, any depth. Every call returns false, with `error()` set, at the first element
// that is not a value of the datatype or would be one too many.
class ElementWriter {
 public:
  ElementWriter(DataType type, int64_t expected, std::string& out)
      : type_(type), size_(ElementSize(type)), expected_(expected), out_(out) {
    out_.resize(static_cast<size_t>(expected) * size_);
  }

  bool Integer(int64_t x) {
    switch (type_) {
      case DataType::kUint8: return InRange<uint8_t>(x);
      case DataType::kInt8: return InRange<int8_t>(x);
      case DataType::kInt16: return InRange<int16_t>(x);
      case DataType::kInt32: return InRange<int32_t>(x);
      case DataType::kInt64: return Put(x);
      default: return Number(static_cast<double>(x));
    }
  }
  bool Unsigned(uint64_t x) {
    if (x <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Integer(static_cast<int64_t>(x));
    return IsFloat() ? Number(static_cast<double>(x)) : NotA("an integer");
  }
  bool Number(double x) {
    if (!IsFloat()) return NotA("an integer");
    if (type_ == DataType::kFp32) return Put(static_cast<float>(x));
    if (type_ == DataType::kFp64) return Put(x);
    if (!Room()) return false;
    const std::string bytes = EncodeScalar(type_, x);  // FP16 / BF16: two bytes, no allocation
    std::memcpy(out_.data() + count_++ * size_, bytes.data(), size_);
    return true;
  }
  bool Boolean(bool x) {
    if (type_ != DataType::kBool) return NotA(IsFloat() ? "a number" : "an integer");
    return Put(static_cast<uint8_t>(x ? 1 : 0));
  }
  // A string, null or object among the elements.
  bool Other() {
    return type_ == DataType::kBool ? Fail("data holds a value that is not true/false, for datatype BOOL")
                                    : NotA(IsFloat() ? "a number" : "an integer");
  }

  int64_t count() const { return count_; }
  const std::string& error() const { return error_; }

 private:
  bool IsFloat() const {
    return type_ == DataType::kFp16 || type_ == DataType::kBf16 || type_ == DataType::kFp32 || type_ == DataType::kFp64;
  }
  bool Room() {
    if (count_ < expected_) return true;
    return Fail(absl::StrCat("more than ", expected_, " elements in data but its shape needs ", expected_));
  }
  template <typename T>
  bool InRange(int64_t x) {
    if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) {
      return Fail(absl::StrCat("data value ", x, " is out of range for datatype ", DataTypeName(type_)));
    }
    return Put(static_cast<T>(x));
  }
  template <typename T>
  bool Put(T x) {
    if (!Room()) return false;
    std::memcpy(out_.data() + count_++ * size_, &x, sizeof x);
    return true;
  }
  bool NotA(absl::string_view what) {
    if (type_ == DataType::kBool) return Other();
    return Fail(absl::StrCat("data holds a value that is not ", what, ", for datatype ", DataTypeName(type_)));
  }
  bool Fail(std::string error) {
    error_ = std::move(error);
    return false;
  }

  const DataType type_;
  const size_t size_;
  const int64_t expected_;
  std::string& out_;
  int64_t count_ = 0;
  std::string error_;
};

// The events of one input's `data` value, as rapidjson's reader hands them over: decoded into
// `writer`, or only walked past (writer null) when they are to be decoded later. Each call is
// false, with `error()`, at the first thing that is wrong.
class DataValue {
 public:
  explicit DataValue(ElementWriter* writer) : writer_(writer) {}

  template <typename Write>
  bool Scalar(Write write) {
    if (depth_ == 0) return Fail("`data` must be an array");
    if (writer_ == nullptr || write(*writer_)) return true;
    return Fail(writer_->error());
  }
  // An array or object opens inside the value. Objects are never elements; a value walked past
  // may hold them (the later decoding reports them).
  bool Open(bool array) {
    if (depth_ == 0 && !array) return Fail("`data` must be an array");
    if (!array && writer_ != nullptr) return Scalar([](ElementWriter& w) { return w.Other(); });
    ++depth_;
    return true;
  }
  void Close() { --depth_; }
  bool done() const { return depth_ == 0; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string error) {
    error_ = std::move(error);
    return false;
  }

  ElementWriter* const writer_;
  int depth_ = 0;
  std::string error_;
};

// Reader events of a `data` value decoded apart (the second pass), into a DataValue.
class DataEvents {
 public:
  explicit DataEvents(DataValue& value) : value_(value) {}
  bool Null() {
    return value_.Scalar([](ElementWriter& w) { return w.Other(); });
  }
  bool Bool(bool b) {
    return value_.Scalar([b](ElementWriter& w) { return w.Boolean(b); });
  }
  bool Int(int i) {
    return value_.Scalar([i](ElementWriter& w) { return w.Integer(i); });
  }
  bool Uint(unsigned u) {
    return value_.Scalar([u](ElementWriter& w) { return w.Integer(u); });
  }
  bool Int64(int64_t i) {
    return value_.Scalar([i](ElementWriter& w) { return w.Integer(i); });
  }
  bool Uint64(uint64_t u) {
    return value_.Scalar([u](ElementWriter& w) { return w.Unsigned(u); });
  }
  bool Double(double d) {
    return value_.Scalar([d](ElementWriter& w) { return w.Number(d); });
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return Null(); }
  bool String(const char*, rapidjson::SizeType, bool) { return Null(); }
  bool StartObject() { return value_.Open(false); }
  bool Key(const char*, rapidjson::SizeType, bool) { return true; }
  bool EndObject(rapidjson::SizeType) { return Close(); }
  bool StartArray() { return value_.Open(true); }
  bool EndArray(rapidjson::SizeType) { return Close(); }

 private:
  bool Close() {
    value_.Close();
    return true;
  }
  DataValue& value_;
};

using JsonStream = rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>;
constexpr unsigned kReadFlags = rapidjson::kParseIterativeFlag;  // deep nesting cannot exhaust the stack

// What the first pass learned of one element of "inputs": enough to decode its `data` as it
// streams past when "datatype" and "shape" came before it (as every client we know sends
// them), else where its `data` lies in the text, to decode once the rest has been read.
struct InputData {
  std::string name;  // "#index" until its "name" is seen
  std::optional<DataType> type;
  std::vector<int64_t> shape;
  bool name_seen = false, type_seen = false, shape_seen = false;  // each key's first value counts
  bool shape_ok = false;                                          // "shape" seen: integers only
  enum class State { kNone, kDecoded, kDeferred } state = State::kNone;
  std::string bytes;   // kDecoded: the tensor
  int64_t count = 0;   // kDecoded: elements written
  size_t text_at = 0;  // kDeferred: offset of the text after the "data" key
};

// Checks what decoding `data` for `input` will cost before a byte of it is read: the element
// limit, what the body can hold at all (every element but the last takes at least two bytes of
// JSON), and the request memory for the tensor. The number of elements, or why not.
absl::StatusOr<int64_t> AdmitData(const InputData& input, const RestDecodeLimits& limits, size_t json_bytes,
                                  int64_t& elements) {
  const std::optional<int64_t> expected = CheckedNumElements(input.shape);
  if (!expected.has_value()) {
    return Invalid(input.name, "\"shape\" must hold non-negative dimensions whose product fits in 64 bits");
  }
  if (limits.max_elements > 0) {
    absl::Status within = AddElements(input.shape, limits.max_elements, elements);
    if (!within.ok()) return within;
  }
  if (*expected > static_cast<int64_t>(json_bytes / 2 + 1)) {
    return Invalid(input.name, absl::StrCat("its shape needs ", *expected, " elements, more than the ", json_bytes,
                                            " bytes of JSON in the body can hold"));
  }
  if (limits.charge != nullptr) {
    absl::Status charged = limits.charge->Grow(*expected * static_cast<int64_t>(ElementSize(*input.type)),
                                               absl::StrCat("input '", input.name, "', decoded,"));
    if (!charged.ok()) return charged;
  }
  return *expected;
}

// The first (and usually only) pass over the body. Every event goes to `doc` except those of
// each input's `data`, which are decoded straight into its tensor (or walked past, their place
// noted) and stand in `doc` as null: the document holds everything but the tensors.
class FirstPass {
 public:
  FirstPass(rapidjson::Document& doc, const rapidjson::MemoryStream& text, size_t json_bytes,
            const RestDecodeLimits& limits)
      : doc_(doc), text_(text), json_bytes_(json_bytes), limits_(limits) {}

  bool Null() {
    NotAnInteger();
    return Scalar([&] { return doc_.Null(); }, [](ElementWriter& w) { return w.Other(); });
  }
  bool Bool(bool b) {
    NotAnInteger();
    return Scalar([&] { return doc_.Bool(b); }, [b](ElementWriter& w) { return w.Boolean(b); });
  }
  bool Int(int i) {
    return Integer(i, [&] { return doc_.Int(i); });
  }
  bool Uint(unsigned u) {
    return Integer(u, [&] { return doc_.Uint(u); });
  }
  bool Int64(int64_t i) {
    return Integer(i, [&] { return doc_.Int64(i); });
  }
  bool Uint64(uint64_t u) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Integer(static_cast<int64_t>(u), [&] { return doc_.Uint64(u); });
    }
    NotAnInteger();
    return Scalar([&] { return doc_.Uint64(u); }, [u](ElementWriter& w) { return w.Unsigned(u); });
  }
  bool Double(double d) {
    NotAnInteger();
    return Scalar([&] { return doc_.Double(d); }, [d](ElementWriter& w) { return w.Number(d); });
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {  // not sent with kReadFlags
    return String(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    if (!data_.has_value() && InInputObject()) {
      // A key given twice counts the first time, as in the document (FindMember).
      if (input_key_ == "datatype" && !current().type_seen) {
        current().type = DataTypeFromName(absl::string_view(s, n));
        current().type_seen = true;
      }
      if (input_key_ == "name" && !current().name_seen) {
        current().name.assign(s, n);
        current().name_seen = true;
      }
    }
    NotAnInteger();
    return Scalar([&] { return doc_.String(s, n, copy); }, [](ElementWriter& w) { return w.Other(); });
  }
  bool StartObject() {
    if (data_.has_value()) return data_->Open(false) || Stop(data_->error());
    NotAnInteger();
    if (ElementOfInputs()) input_object_ = true;
    ++depth_;
    return doc_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (data_.has_value()) return true;  // inside an object within data: reported by Open
    if (depth_ == 1) root_key_.assign(s, n);
    if (!InInputObject()) return doc_.Key(s, n, copy);
    input_key_.assign(s, n);
    return doc_.Key(s, n, copy) && (input_key_ != "data" || StartData());
  }
  bool EndObject(rapidjson::SizeType members) {
    if (data_.has_value()) return CloseInData();
    if (--depth_ == 2) input_object_ = false;
    return doc_.EndObject(members);
  }
  bool StartArray() {
    if (data_.has_value()) return data_->Open(true) || Stop(data_->error());
    NotAnInteger();
    if (depth_ == 1 && root_key_ == "inputs") in_inputs_ = true;
    ElementOfInputs();
    if (InInputObject() && input_key_ == "shape" && !current().shape_seen) {
      in_shape_ = true;
      current().shape_seen = true;
      current().shape_ok = true;
    }
    ++depth_;
    return doc_.StartArray();
  }
  bool EndArray(rapidjson::SizeType elements) {
    if (data_.has_value()) return CloseInData();
    --depth_;
    if (depth_ == 1) in_inputs_ = false;
    if (depth_ == 3) in_shape_ = false;
    return doc_.EndArray(elements);
  }

  // By index in "inputs" (one for every element, an object or not).
  std::vector<InputData>& inputs() { return inputs_; }
  // Why the pass stopped early, if it did.
  const absl::Status& status() const { return status_; }
  // Elements of every input admitted so far, for the element limit (the second pass adds on).
  int64_t& elements() { return elements_; }

 private:
  InputData& current() { return inputs_.back(); }
  bool InInputObject() const { return depth_ == 3 && input_object_; }

  // A value starting now at depth 2 inside "inputs" is a new element of it. Returns whether it is.
  bool ElementOfInputs() {
    if (depth_ != 2 || !in_inputs_) return false;
    inputs_.emplace_back();
    current().name = absl::StrCat("#", inputs_.size() - 1);
    return true;
  }

  // Anything but an integer inside a "shape" array makes the shape unusable (reported later).
  void NotAnInteger() {
    if (!data_.has_value() && depth_ == 4 && in_shape_) current().shape_ok = false;
  }

  template <typename Forward, typename Write>
  bool Scalar(Forward forward, Write write) {
    if (data_.has_value()) return data_->Scalar(write) || Stop(data_->error());
    ElementOfInputs();
    return forward();
  }

  template <typename Forward>
  bool Integer(int64_t x, Forward forward) {
    if (!data_.has_value() && depth_ == 4 && in_shape_) current().shape.push_back(x);
    return Scalar(forward, [x](ElementWriter& w) { return w.Integer(x); });
  }

  // The key "data" of an input was read: its value stands as null in the document. Its
  // elements go straight into the tensor when the input's datatype and shape are known (and
  // admitted), else its place is noted and it is walked past.
  bool StartData() {
    InputData& input = current();
    if (input.state != InputData::State::kNone) return Stop(Invalid(input.name, "has more than one \"data\""));
    if (!doc_.Null()) return false;
    writer_.reset();
    if (input.type.has_value() && input.shape_ok) {
      absl::StatusOr<int64_t> expected = AdmitData(input, limits_, json_bytes_, elements_);
      if (!expected.ok()) return Stop(expected.status());
      writer_.emplace(*input.type, *expected, input.bytes);
      input.state = InputData::State::kDecoded;
    } else {
      input.state = InputData::State::kDeferred;
      input.text_at = text_.Tell();
    }
    data_.emplace(writer_.has_value() ? &*writer_ : nullptr);
    return true;
  }

  bool CloseInData() {
    data_->Close();
    if (!data_->done()) return true;
    if (writer_.has_value()) current().count = writer_->count();
    data_.reset();
    return true;
  }

  bool Stop(absl::Status status) {
    status_ = std::move(status);
    return false;
  }
  bool Stop(const std::string& data_error) { return Stop(Invalid(current().name, data_error)); }

  rapidjson::Document& doc_;
  const rapidjson::MemoryStream& text_;
  const size_t json_bytes_;
  const RestDecodeLimits& limits_;
  int depth_ = 0;  // arrays and objects open, outside data
  std::string root_key_;
  std::string input_key_;
  bool in_inputs_ = false;     // inside the root's "inputs" array
  bool input_object_ = false;  // the element of "inputs" open now is an object
  bool in_shape_ = false;      // inside that input's "shape" array
  std::vector<InputData> inputs_;
  int64_t elements_ = 0;  // of every input admitted so far, for the element limit
  std::optional<ElementWriter> writer_;
  std::optional<DataValue> data_;  // set while a data value is read
  absl::Status status_;
};

// The second pass, for one input whose data came before its datatype or shape: decodes the
// value after the "data" key at `input.text_at`.
absl::Status DecodeDeferred(absl::string_view json, InputData& input, const RestDecodeLimits& limits,
                            int64_t& elements) {
  absl::StatusOr<int64_t> expected = AdmitData(input, limits, json.size(), elements);
  if (!expected.ok()) return expected.status();
  size_t at = input.text_at;
  while (at < json.size() &&
         (json[at] == ':' || json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r')) {
    ++at;
  }
  ElementWriter writer(*input.type, *expected, input.bytes);
  DataValue value(&writer);
  DataEvents events(value);
  rapidjson::MemoryStream text(json.data() + at, json.size() - at);
  JsonStream stream(text);
  rapidjson::Reader reader;
  reader.Parse<kReadFlags | rapidjson::kParseStopWhenDoneFlag>(stream, events);
  if (reader.HasParseError()) return Invalid(input.name, value.error());
  input.count = writer.count();
  input.state = InputData::State::kDecoded;
  return absl::OkStatus();
}

// One input from its (data-less) JSON object and what the first pass decoded of its data.
absl::Status ParseInput(const Value& input, absl::string_view json, absl::string_view binary, size_t& binary_offset,
                        InputData& data, const RestDecodeLimits& limits, int64_t& elements, Tensor& t) {
  const Value* name = Member(input, "name");
  if (name == nullptr || !name->IsString()) return absl::InvalidArgumentError("every input needs a string \"name\"");
  t.name.assign(name->GetString(), name->GetStringLength());
  const Value* datatype = Member(input, "datatype");
  if (datatype == nullptr || !datatype->IsString()) return Invalid(t.name, "needs a string \"datatype\"");
  const absl::string_view type_name(datatype->GetString(), datatype->GetStringLength());
  absl::StatusOr<DataType> type = ParseKServeDataType(t.name, type_name);
  if (!type.ok()) return type.status();
  t.dtype = *type;
  const Value* shape = Member(input, "shape");
  if (shape == nullptr || !shape->IsArray()) return Invalid(t.name, "needs a \"shape\" array");
  for (const Value& d : shape->GetArray()) {
    if (!d.IsInt64()) return Invalid(t.name, "\"shape\" must hold integers");
    t.shape.push_back(d.GetInt64());
  }
  const Value* binary_size =
      Member(input, "parameters") ? Member(*Member(input, "parameters"), "binary_data_size") : nullptr;
  if (binary_size != nullptr) {
    if (!binary_size->IsUint64()) return Invalid(t.name, "parameters.binary_data_size must be a non-negative integer");
    if (data.state != InputData::State::kNone) {
      return Invalid(t.name, "has both \"data\" and parameters.binary_data_size; send one");
    }
    const uint64_t size = binary_size->GetUint64();
    if (size > binary.size() - binary_offset) {
      return Invalid(t.name, absl::StrCat("binary_data_size ", size, " runs past the ", binary.size(),
                                          " bytes of binary data after the JSON (Inference-Header-Content-Length)"));
    }
    t.borrowed = binary.substr(binary_offset, size);
    binary_offset += size;
    return absl::OkStatus();  // size against shape: ValidateRequest
  }
  if (data.state == InputData::State::kNone) {
    return Invalid(t.name, "needs \"data\" (or parameters.binary_data_size with binary data)");
  }
  if (data.state == InputData::State::kDeferred) {
    data.name = t.name;
    absl::Status decoded = DecodeDeferred(json, data, limits, elements);
    if (!decoded.ok()) return decoded;
  }
  // Invalid shapes (negative, overflowing) stopped decoding; ValidateRequest words them.
  const int64_t expected = CheckedNumElements(t.shape).value_or(0);
  if (data.count != expected || data.bytes.size() != static_cast<size_t>(expected) * ElementSize(t.dtype)) {
    return Invalid(t.name, absl::StrCat(data.count, " elements in data but its shape needs ", expected));
  }
  t.data = std::move(data.bytes);
  return absl::OkStatus();
}

// The strings of a BYTES input's `data` (flat or nested arrays of JSON strings), at most `count`
// of them, charged as they are read.
class StringCollector : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, StringCollector> {
 public:
  StringCollector(std::vector<std::string>& out, int64_t count, RequestMemory::Charge* charge)
      : out_(out), count_(count), charge_(charge) {}
  bool Default() { return Fail("data of a BYTES input must hold strings"); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (static_cast<int64_t>(out_.size()) == count_) return Fail("data holds more strings than its shape");
    if (charge_ != nullptr) {
      if (absl::Status grown = charge_->Grow(n, "text, decoded,"); !grown.ok()) {
        status_ = std::move(grown);
        return false;
      }
    }
    out_.emplace_back(s, n);
    return true;
  }
  bool StartArray() { return true; }
  bool EndArray(rapidjson::SizeType) { return true; }
  const absl::Status& status() const { return status_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const char* why) {
    error_ = why;
    return false;
  }
  std::vector<std::string>& out_;
  const int64_t count_;
  RequestMemory::Charge* const charge_;
  absl::Status status_;
  std::string error_ = "data is not valid JSON";
};

// A text input (datatype BYTES, server/api/kserve_request.h): its strings from `data` or from
// binary data in Triton's layout, into request.texts or request.text_pairs.
absl::Status ParseTextInput(const Value& input, absl::string_view name, absl::string_view json,
                            absl::string_view binary, size_t& binary_offset, const InputData& data,
                            const RestDecodeLimits& limits, InferenceRequest& request) {
  const Value* shape = Member(input, "shape");
  if (shape == nullptr || !shape->IsArray()) return Invalid(name, "needs a \"shape\" array");
  std::vector<int64_t> dims;
  for (const Value& d : shape->GetArray()) {
    if (!d.IsInt64()) return Invalid(name, "\"shape\" must hold integers");
    dims.push_back(d.GetInt64());
  }
  absl::StatusOr<KServeTextInput> text = KServeTextTarget(name, dims, request);
  if (!text.ok()) return text.status();
  const Value* binary_size =
      Member(input, "parameters") ? Member(*Member(input, "parameters"), "binary_data_size") : nullptr;
  if (binary_size != nullptr) {
    if (!binary_size->IsUint64() || binary_size->GetUint64() > binary.size() - binary_offset) {
      return Invalid(name, "parameters.binary_data_size must be the byte count of its binary data after the JSON");
    }
    const absl::string_view bytes = binary.substr(binary_offset, binary_size->GetUint64());
    binary_offset += bytes.size();
    return SplitKServeBytes(name, bytes, text->count, *text->strings);
  }
  if (data.state == InputData::State::kNone) return Invalid(name, "needs \"data\": one string per row");
  size_t at = data.text_at;
  while (at < json.size() && (json[at] == ':' || absl::ascii_isspace(static_cast<unsigned char>(json[at])))) ++at;
  StringCollector collector(*text->strings, text->count, limits.charge);
  rapidjson::MemoryStream stream_text(json.data() + at, json.size() - at);
  JsonStream stream(stream_text);
  rapidjson::Reader reader;
  reader.Parse<kReadFlags | rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseValidateEncodingFlag>(stream,
                                                                                                       collector);
  if (!collector.status().ok()) return collector.status();
  if (reader.HasParseError()) {
    return Invalid(name, reader.GetParseErrorCode() == rapidjson::kParseErrorStringInvalidEncoding
                             ? std::string("a string of data is not valid UTF-8")
                             : collector.error());
  }
  if (static_cast<int64_t>(text->strings->size()) != text->count) {
    return Invalid(name, absl::StrCat(text->strings->size(), " strings in data but its shape needs ", text->count));
  }
  return absl::OkStatus();
}

absl::Status ParseParameters(const Value& parameters, InferenceRequest& request, RestOutputFormat& format) {
  if (!parameters.IsObject()) return absl::InvalidArgumentError("\"parameters\" must be an object");
  if (const Value* timeout = Member(parameters, "timeout")) {
    absl::Status applied =
        ApplyKServeTimeout(timeout->IsInt64(), timeout->IsInt64() ? timeout->GetInt64() : 0, request);
    if (!applied.ok()) return applied;
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
                                                std::optional<size_t> json_length, const RestDecodeLimits& limits) {
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
  // Note [JSON straight into tensors]: the body is read once, by rapidjson's SAX reader; the
  // inputs' data go straight into their tensors (FirstPass), everything else into a small
  // document. A DOM of the whole body cost 16 bytes per element on top of the body and the
  // tensors (30 MB of JSON took a MiniLM pod from ~400 to 874 MiB); now decoding holds the body,
  // the tensors (charged before they are written) and a few hundred bytes. RESULTS.md, "Memory
  // per byte of JSON".
  rapidjson::Document doc;
  rapidjson::MemoryStream text(json.data(), json.size());
  FirstPass pass(doc, text, json.size(), limits);
  std::optional<size_t> error_at;
  auto read = [&](rapidjson::Document&) {
    JsonStream stream(text);
    rapidjson::Reader reader;
    reader.Parse<kReadFlags>(stream, pass);
    if (reader.HasParseError()) error_at = reader.GetErrorOffset();
    return !error_at.has_value();
  };
  doc.Populate(read);
  if (!pass.status().ok()) return pass.status();
  if (error_at.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("request body is not valid JSON (error at byte ", *error_at, ")"));
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
  std::vector<InputData>& data = pass.inputs();
  for (rapidjson::SizeType i = 0; i < inputs->Size(); ++i) {
    const Value* datatype = Member((*inputs)[i], "datatype");
    if (datatype != nullptr && datatype->IsString() && datatype->GetString() == kTextDataType) {
      const Value* name = Member((*inputs)[i], "name");
      if (name == nullptr || !name->IsString())
        return absl::InvalidArgumentError("every input needs a string \"name\"");
      absl::Status status =
          ParseTextInput((*inputs)[i], name->GetString(), json, binary, binary_offset, data[i], limits, request);
      if (!status.ok()) return status;
      continue;
    }
    Tensor t;
    absl::Status status = ParseInput((*inputs)[i], json, binary, binary_offset, data[i], limits, pass.elements(), t);
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
