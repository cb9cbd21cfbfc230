#include "runtime/tokenizer/post_processor.h"

#include <algorithm>
#include <string>
#include <utility>

namespace seqserve::tokenizer {
namespace {

constexpr char kSupported[] = "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence";

// A special token given as ["[SEP]", 102] (BertProcessing, RobertaProcessing).
absl::StatusOr<std::vector<int32_t>> NamedPair(const Json& json, const char* key, absl::string_view where) {
  const Json* pair = Member(json, key);
  if (pair == nullptr || !pair->IsArray() || pair->Size() != 2 || !(*pair)[1].IsInt()) {
    return JsonError(where, std::string("needs '") + key + "' as [token, id]");
  }
  return std::vector<int32_t>{(*pair)[1].GetInt()};
}

absl::StatusOr<std::vector<Template::Item>> ParsePieces(const Json& json, const char* key, const Json& specials) {
  const Json* list = Member(json, key);
  if (list == nullptr || !list->IsArray())
    return JsonError("post_processor TemplateProcessing", std::string("needs the array '") + key + "'");
  std::vector<Template::Item> items;
  for (const Json& piece : list->GetArray()) {
    if (const Json* sequence = Member(piece, "Sequence")) {
      const std::string which = GetStringOr(*sequence, "id", std::string("A"));
      if (which != "A" && which != "B")
        return JsonError("post_processor TemplateProcessing", "names a sequence other than A or B");
      items.push_back({which == "A" ? 0 : 1, {}, static_cast<int32_t>(GetInt(*sequence, "type_id", 0))});
    } else if (const Json* special = Member(piece, "SpecialToken")) {
      const std::string name = GetStringOr(*special, "id", std::string());
      const Json* entry = Member(specials, name.c_str());
      const Json* ids = entry != nullptr ? Member(*entry, "ids") : nullptr;
      if (ids == nullptr || !ids->IsArray()) {
        return JsonError("post_processor TemplateProcessing", "uses the special token '" + name + "' without ids");
      }
      Template::Item item{-1, {}, static_cast<int32_t>(GetInt(*special, "type_id", 0))};
      for (const Json& id : ids->GetArray()) {
        if (!id.IsInt())
          return JsonError("post_processor TemplateProcessing", "has a non-integer id for '" + name + "'");
        item.special_ids.push_back(id.GetInt());
      }
      items.push_back(std::move(item));
    } else {
      return JsonError("post_processor TemplateProcessing", "has a piece that is neither Sequence nor SpecialToken");
    }
  }
  return items;
}

}  // namespace

absl::StatusOr<Template> Template::FromJson(const Json* json) {
  Template result;
  if (json == nullptr) {
    result.single_ = {{0, {}, 0}};
    result.pair_ = {{0, {}, 0}, {1, {}, 1}};
    return result;
  }
  const std::string type = TypeOf(*json);
  if (type == "TemplateProcessing") {
    static const Json kNoSpecials(rapidjson::kObjectType);
    const Json* specials = Member(*json, "special_tokens");
    absl::StatusOr<std::vector<Item>> single = ParsePieces(*json, "single", specials ? *specials : kNoSpecials);
    if (!single.ok()) return single.status();
    absl::StatusOr<std::vector<Item>> pair = ParsePieces(*json, "pair", specials ? *specials : kNoSpecials);
    if (!pair.ok()) return pair.status();
    // `tokenizers` refuses a single template that uses B, or a pair template without both.
    auto uses = [](const std::vector<Item>& items, int sequence) {
      return std::any_of(items.begin(), items.end(), [&](const Item& item) { return item.sequence == sequence; });
    };
    if (uses(*single, 1))
      return JsonError("post_processor TemplateProcessing", "uses sequence B in the single template");
    if (!uses(*pair, 0) || !uses(*pair, 1)) {
      return JsonError("post_processor TemplateProcessing", "needs both sequences A and B in the pair template");
    }
    result.single_ = std::move(*single);
    result.pair_ = std::move(*pair);
    return result;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    absl::StatusOr<std::vector<int32_t>> cls = NamedPair(*json, "cls", "post_processor " + type);
    if (!cls.ok()) return cls.status();
    absl::StatusOr<std::vector<int32_t>> sep = NamedPair(*json, "sep", "post_processor " + type);
    if (!sep.ok()) return sep.status();
    result.single_ = {{-1, *cls, 0}, {0, {}, 0}, {-1, *sep, 0}};
    if (type == "BertProcessing") {
      result.pair_ = {{-1, *cls, 0}, {0, {}, 0}, {-1, *sep, 0}, {1, {}, 1}, {-1, *sep, 1}};
    } else {
      result.pair_ = {{-1, *cls, 0}, {0, {}, 0}, {-1, *sep, 0}, {-1, *sep, 0}, {1, {}, 0}, {-1, *sep, 0}};
    }
    return result;
  }
  if (type == "ByteLevel") return FromJson(nullptr);
  if (type == "Sequence") {
    const Json* list = Member(*json, "processors");
    if (list == nullptr || !list->IsArray())
      return JsonError("post_processor Sequence", "needs the array 'processors'");
    const Json* chosen = nullptr;
    for (const Json& step : list->GetArray()) {
      const std::string step_type = TypeOf(step);
      if (step_type == "ByteLevel") continue;
      if (chosen != nullptr) {
        return Unsupported("post-processor", "Sequence of two token-adding processors", "one besides ByteLevel");
      }
      chosen = &step;
    }
    return FromJson(chosen);
  }
  return Unsupported("post-processor", type, kSupported);
}

size_t Template::SpecialTokenCount(bool pair) const {
  size_t added = 0;
  for (const Item& item : pair ? pair_ : single_) added += item.special_ids.size();
  return added;
}

void Template::Apply(const std::vector<int32_t>& a, const std::vector<int32_t>* b, Encoding& out) const {
  out.ids.clear();
  out.type_ids.clear();
  for (const Item& item : b != nullptr ? pair_ : single_) {
    const std::vector<int32_t>& ids = item.sequence < 0 ? item.special_ids : item.sequence == 0 ? a : *b;
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    out.type_ids.insert(out.type_ids.end(), ids.size(), item.type_id);
  }
}

}  // namespace seqserve::tokenizer
