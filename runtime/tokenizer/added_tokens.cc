#include "runtime/tokenizer/added_tokens.h"

#include <algorithm>

#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
absl::StatusOr<AddedTokens> AddedTokens::FromJson(const Json* list, const Normalizer* normalizer) {
  AddedTokens added;
  if (list == nullptr) return added;
  if (!list->IsArray()) return JsonError("added_tokens", "is not an array");
  std::string scratch;
  for (const Json& entry : list->GetArray()) {
    absl::StatusOr<std::string> content = GetString(entry, "content", "an added token");
    if (!content.ok()) return content.status();
    const Json* id = Member(entry, "id");
    if (id == nullptr || !id->IsInt()) return JsonError("added token '" + *content + "'", "needs an integer 'id'");
    if (GetBool(entry, "single_word", false)) {
      return Unsupported("added-token option", "single_word", "added tokens with single_word false");
    }
    Token token{*content, id->GetInt(), GetBool(entry, "normalized", !GetBool(entry, "special", false)),
                GetBool(entry, "lstrip", false), GetBool(entry, "rstrip", false)};
    if (token.normalized && normalizer != nullptr) {
      absl::Status normalized = normalizer->Normalize(token.content, scratch);
      if (!normalized.ok()) return normalized;
    }
    if (token.content.empty()) continue;
    auto& index = token.normalized ? added.normalized_by_byte_ : added.raw_by_byte_;
    index[static_cast<unsigned char>(token.content[0])].push_back(static_cast<uint32_t>(added.tokens_.size()));
    added.tokens_.push_back(std::move(token));
  }
  return added;
}

void AddedTokens::Split(absl::string_view text, bool normalized, std::vector<Segment>& out) const {
  out.clear();
  const auto& index = normalized ? normalized_by_byte_ : raw_by_byte_;
  auto add_text = [&](size_t begin, size_t end) {
    if (end > begin) out.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end), -1});
  };
  size_t consumed = 0;  // text before this is in `out`
  for (size_t i = 0; i < text.size();) {
    const Token* longest = nullptr;
    for (uint32_t candidate : index[static_cast<unsigned char>(text[i])]) {
      const Token& token = tokens_[candidate];
      if (text.compare(i, token.content.size(), token.content) == 0 &&
          (longest == nullptr || token.content.size() > longest->content.size())) {
        longest = &token;
      }
    }
    if (longest == nullptr) {
      i += Utf8Length(static_cast<unsigned char>(text[i]));
      continue;
    }
    const size_t begin = longest->lstrip ? WhitespaceBefore(text, i, consumed) : i;
    size_t end = i + longest->content.size();
    if (longest->rstrip) end = WhitespaceAfter(text, end);
    add_text(consumed, begin);
    out.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end), longest->id});
    consumed = end;
    i = end;
  }
  add_text(consumed, text.size());
}

}  // namespace seqserve::tokenizer
