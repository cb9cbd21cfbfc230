// WordPiece, as BERT tokenizes: greedy longest-match-first from the left, pieces after the first
// carrying the continuing-subword prefix ("##"); a word with a part no piece matches, or longer
// than max_input_chars_per_word characters, is the unknown token as a whole.
#include <utility>

#include "runtime/tokenizer/model.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

class WordPiece final : public Model {
 public:
  WordPiece(Vocabulary vocabulary, int32_t unknown, std::string prefix, size_t max_chars)
      : vocabulary_(std::move(vocabulary)), unknown_(unknown), prefix_(std::move(prefix)), max_chars_(max_chars) {}

  absl::Status Tokenize(absl::string_view word, std::vector<int32_t>& ids) const override {
    size_t chars = 0;
    for (char byte : word) chars += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
    if (chars > max_chars_) {
      ids.push_back(unknown_);
      return absl::OkStatus();
    }
    thread_local std::string candidate;
    const size_t first_id = ids.size();
    for (size_t start = 0; start < word.size();) {
      size_t end = word.size();
      std::optional<int32_t> found;
      while (end > start) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate.append(word.data() + start, end - start);
        if (auto it = vocabulary_.find(candidate); it != vocabulary_.end()) {
          found = it->second;
          break;
        }
        do --end;  // back one character
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!found.has_value()) {
        ids.resize(first_id);
        ids.push_back(unknown_);
        return absl::OkStatus();
      }
      ids.push_back(*found);
      start = end;
    }
    return absl::OkStatus();
  }

  std::optional<int32_t> IdOf(absl::string_view token) const override { return Find(vocabulary_, token); }

  absl::string_view family() const override { return "WordPiece"; }

 private:
  const Vocabulary vocabulary_;
  const int32_t unknown_;
  const std::string prefix_;
  const size_t max_chars_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const Model>> MakeWordPiece(const Json& json) {
  const Json* vocab = Member(json, "vocab");
  if (vocab == nullptr || !vocab->IsObject()) return JsonError("model WordPiece", "needs the object 'vocab'");
  Vocabulary vocabulary;
  vocabulary.reserve(vocab->MemberCount());
  for (const auto& entry : vocab->GetObject()) {
    if (!entry.value.IsInt()) return JsonError("model WordPiece", "has a vocab entry whose id is not an integer");
    vocabulary.insert_or_assign(std::string(StringOf(entry.name)), entry.value.GetInt());
  }
  const std::string unknown = GetStringOr(json, "unk_token", std::string("[UNK]"));
  auto it = vocabulary.find(unknown);
  if (it == vocabulary.end())
    return JsonError("model WordPiece", "has an unk_token '" + unknown + "' not in its vocab");
  const int32_t unknown_id = it->second;
  const int64_t max_chars = GetInt(json, "max_input_chars_per_word", 100);
  return std::make_unique<WordPiece>(std::move(vocabulary), unknown_id,
                                     GetStringOr(json, "continuing_subword_prefix", std::string("##")),
                                     static_cast<size_t>(max_chars < 0 ? 0 : max_chars));
}

}  // namespace seqserve::tokenizer
