#include "server/api/proto_json.h"

#include <google/protobuf/descriptor.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/escaping.h"

namespace seqserve {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteMessage(const Message& message, Writer& out);

void WriteString(const std::string& s, Writer& out) {
  out.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// One value of `field`: element `index` of a repeated field, or the singular value (index < 0).
void WriteValue(const Message& message, const FieldDescriptor* field, int index, Writer& out) {
  const Reflection* r = message.GetReflection();
  const bool repeated = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out.Int(repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out.Int64(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out.Uint(repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out.Uint64(repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out.Double(repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out.Double(repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out.Bool(repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      WriteString((repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name(), out);
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      WriteString(field->type() == FieldDescriptor::TYPE_BYTES ? absl::Base64Escape(s) : s, out);
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(repeated ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field), out);
      break;
  }
}

// A map field: its entries are messages with a "key" and a "value" field.
void WriteMap(const Message& message, const FieldDescriptor* field, Writer& out) {
  const Reflection* r = message.GetReflection();
  out.StartObject();
  for (int i = 0; i < r->FieldSize(message, field); ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    const FieldDescriptor* key = entry.GetDescriptor()->FindFieldByName("key");
    const FieldDescriptor* value = entry.GetDescriptor()->FindFieldByName("value");
    const Reflection* er = entry.GetReflection();
    std::string key_text;
    switch (key->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING: key_text = er->GetString(entry, key); break;
      case FieldDescriptor::CPPTYPE_INT32: key_text = std::to_string(er->GetInt32(entry, key)); break;
      case FieldDescriptor::CPPTYPE_INT64: key_text = std::to_string(er->GetInt64(entry, key)); break;
      case FieldDescriptor::CPPTYPE_UINT32: key_text = std::to_string(er->GetUInt32(entry, key)); break;
      case FieldDescriptor::CPPTYPE_UINT64: key_text = std::to_string(er->GetUInt64(entry, key)); break;
      case FieldDescriptor::CPPTYPE_BOOL: key_text = er->GetBool(entry, key) ? "true" : "false"; break;
      default: break;  // protobuf allows no other key types
    }
    WriteString(key_text, out);
    WriteValue(entry, value, -1, out);
  }
  out.EndObject();
}

void WriteMessage(const Message& message, Writer& out) {
  const Reflection* r = message.GetReflection();
  const google::protobuf::Descriptor* d = message.GetDescriptor();
  out.StartObject();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* field = d->field(i);
    if (field->is_repeated()) {
      WriteString(field->name(), out);
      if (field->is_map()) {
        WriteMap(message, field, out);
        continue;
      }
      out.StartArray();
      for (int j = 0; j < r->FieldSize(message, field); ++j) WriteValue(message, field, j, out);
      out.EndArray();
      continue;
    }
    // Messages and oneof members only when set; other scalars always.
    const bool optional = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE || field->containing_oneof() != nullptr;
    if (optional && !r->HasField(message, field)) continue;
    WriteString(field->name(), out);
    WriteValue(message, field, -1, out);
  }
  out.EndObject();
}

}  // namespace

std::string ProtoToJson(const Message& message) {
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  WriteMessage(message, out);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string RepeatedFieldToJson(const Message& message, const std::string& name) {
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  const FieldDescriptor* field = message.GetDescriptor()->FindFieldByName(name);
  out.StartArray();
  if (field != nullptr && field->is_repeated()) {
    for (int j = 0; j < message.GetReflection()->FieldSize(message, field); ++j) WriteValue(message, field, j, out);
  }
  out.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace seqserve
