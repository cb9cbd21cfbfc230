// Reading tokenizer.json's fields with RapidJSON, each miss an INVALID_ARGUMENT that names the
// field's path. Internal to runtime/tokenizer/.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_JSON_FIELDS_H_
#define SEQSERVE_RUNTIME_TOKENIZER_JSON_FIELDS_H_

#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace seqserve::tokenizer {

using Json = rapidjson::Value;

inline absl::Status JsonError(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", where, " ", what));
}

// The value of `object[key]`, or nullptr when absent or null.
inline const Json* Member(const Json& object, const char* key) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(key);
  if (it == object.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

inline absl::string_view StringOf(const Json& value) {
  return absl::string_view(value.GetString(), value.GetStringLength());
}

inline absl::StatusOr<std::string> GetString(const Json& object, const char* key, absl::string_view where) {
  const Json* value = Member(object, key);
  if (value == nullptr || !value->IsString()) return JsonError(where, absl::StrCat("needs the string '", key, "'"));
  return std::string(StringOf(*value));
}

inline std::string GetStringOr(const Json& object, const char* key, std::string fallback) {
  const Json* value = Member(object, key);
  return value != nullptr && value->IsString() ? std::string(StringOf(*value)) : fallback;
}

inline bool GetBool(const Json& object, const char* key, bool fallback) {
  const Json* value = Member(object, key);
  return value != nullptr && value->IsBool() ? value->GetBool() : fallback;
}

inline int64_t GetInt(const Json& object, const char* key, int64_t fallback) {
  const Json* value = Member(object, key);
  return value != nullptr && value->IsInt64() ? value->GetInt64() : fallback;
}

// The component's "type", for the messages that refuse one.
inline std::string TypeOf(const Json& component) { return GetStringOr(component, "type", "(no type)"); }

// A component this server does not implement: refused by name, never approximated.
inline absl::Status Unsupported(absl::string_view kind, absl::string_view type, absl::string_view supported) {
  return absl::FailedPreconditionError(absl::StrCat("tokenizer.json uses the ", kind, " '", type,
                                                    "', which seqserve does not implement (supported: ", supported,
                                                    ")"));
}

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_JSON_FIELDS_H_
