#include "runtime/tokenizer/normalizer.h"

#include <optional>
#include <utility>
#include <vector>

#include "runtime/tokenizer/regex.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

constexpr char kSupported[] = "BertNormalizer, NFC, NFD, NFKC, NFKD, Lowercase, Nmt, Replace, Strip, Prepend, Sequence";

bool IsAscii(absl::string_view text) {
  for (char byte : text) {
    if (static_cast<unsigned char>(byte) >= 0x80) return false;
  }
  return true;
}

// Rewrites `text` code point by code point: emit(c, out) appends what c becomes.
template <typename Emit>
void MapCodePoints(std::string& text, std::string& scratch, Emit emit) {
  scratch.clear();
  for (size_t i = 0; i < text.size();) emit(NextCodePoint(text, i), scratch);
  std::swap(text, scratch);
}

void Lowercase(std::string& text, std::string& scratch) {
  if (IsAscii(text)) {
    for (char& byte : text) {
      if (byte >= 'A' && byte <= 'Z') byte = static_cast<char>(byte + ('a' - 'A'));
    }
    return;
  }
  MapCodePoints(text, scratch, AppendLowercase);
}

// Note [BERT's Chinese characters]: BERT puts spaces around the CJK Unified Ideographs and their
// extensions and compatibility blocks, with the ranges its reference code (and `tokenizers`)
// writes out; Extension E is taken from U+2B920, as `tokenizers` has it, not from the block's
// start U+2B820 (checked against `tokenizers` 0.23: U+2B820 is left alone, U+2B920 is spaced).
bool IsBertChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BERT's normalizer, in `tokenizers`' order: clean text (drop NUL, U+FFFD and control characters
// other than \t\n\r; whitespace becomes ' '), space out Chinese characters, strip accents (NFD,
// then drop non-spacing marks; by default whenever it lower-cases), lower-case.
class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}

  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    if (clean_text_ || chinese_) {
      MapCodePoints(text, scratch, [this](char32_t c, std::string& out) {
        if (clean_text_) {
          const bool kept_control = c == '\t' || c == '\n' || c == '\r';
          if (c == 0 || c == 0xFFFD || (!kept_control && IsOtherCategory(c))) return;
          if (IsWhitespace(c)) {
            out.push_back(' ');
            return;
          }
        }
        if (chinese_ && IsBertChineseChar(c)) {
          out.push_back(' ');
          AppendUtf8(c, out);
          out.push_back(' ');
          return;
        }
        AppendUtf8(c, out);
      });
    }
    if (strip_accents_ && !IsAscii(text)) {
      scratch.clear();
      AppendNormalized(NormalForm::kNfd, text, scratch);
      text.clear();
      for (size_t i = 0; i < scratch.size();) {
        const char32_t c = NextCodePoint(scratch, i);
        if (!IsNonspacingMark(c)) AppendUtf8(c, text);
      }
    }
    if (lowercase_) Lowercase(text, scratch);
    return absl::OkStatus();
  }

 private:
  const bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(NormalForm form) : form_(form) {}
  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    if (IsAscii(text)) return absl::OkStatus();
    scratch.clear();
    AppendNormalized(form_, text, scratch);
    std::swap(text, scratch);
    return absl::OkStatus();
  }

 private:
  const NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    Lowercase(text, scratch);
    return absl::OkStatus();
  }
};

// SentencePiece's "nmt" rules as `tokenizers` has them: drop most C0 controls, DEL and two C1
// controls; map tab, line breaks, zero-width spaces, line/paragraph separators, U+2581, BOM and
// U+FFFD to ' '.
class Nmt final : public Normalizer {
 public:
  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    MapCodePoints(text, scratch, [](char32_t c, std::string& out) {
      if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F) {
        return;
      }
      const bool space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                         (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF ||
                         c == 0xFFFD;
      if (space) {
        out.push_back(' ');
      } else {
        AppendUtf8(c, out);
      }
    });
    return absl::OkStatus();
  }
};

// Replaces every non-overlapping occurrence of a string, or every match of a regex, by `content`.
class Replace final : public Normalizer {
 public:
  Replace(std::string literal, std::optional<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}

  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    scratch.clear();
    size_t copied = 0;
    auto replace = [&](size_t begin, size_t end) {
      scratch.append(text, copied, begin - copied);
      scratch.append(content_);
      copied = end;
    };
    if (regex_.has_value()) {
      absl::Status matched = regex_->ForEachMatch(text, replace);
      if (!matched.ok()) return matched;
    } else if (!literal_.empty()) {
      for (size_t at = text.find(literal_); at != std::string::npos; at = text.find(literal_, at + literal_.size())) {
        replace(at, at + literal_.size());
      }
    }
    if (copied == 0 && scratch.empty()) return absl::OkStatus();  // nothing matched
    scratch.append(text, copied, std::string::npos);
    std::swap(text, scratch);
    return absl::OkStatus();
  }

 private:
  const std::string literal_;
  const std::optional<Regex> regex_;
  const std::string content_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  absl::Status Normalize(std::string& text, std::string&) const override {
    size_t begin = 0, end = text.size();
    if (left_) begin = WhitespaceAfter(text, begin);
    if (right_) end = WhitespaceBefore(text, end, begin);
    text = text.substr(begin, end - begin);
    return absl::OkStatus();
  }

 private:
  const bool left_, right_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status Normalize(std::string& text, std::string&) const override {
    if (!text.empty()) text.insert(0, prefix_);
    return absl::OkStatus();
  }

 private:
  const std::string prefix_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<const Normalizer>> steps) : steps_(std::move(steps)) {}
  absl::Status Normalize(std::string& text, std::string& scratch) const override {
    for (const auto& step : steps_) {
      absl::Status normalized = step->Normalize(text, scratch);
      if (!normalized.ok()) return normalized;
    }
    return absl::OkStatus();
  }

 private:
  const std::vector<std::unique_ptr<const Normalizer>> steps_;
};

absl::StatusOr<std::unique_ptr<const Normalizer>> MakeReplace(const Json& json) {
  const Json* pattern = Member(json, "pattern");
  absl::StatusOr<std::string> content = GetString(json, "content", "normalizer Replace");
  if (!content.ok()) return content.status();
  if (pattern != nullptr && Member(*pattern, "String") != nullptr && Member(*pattern, "String")->IsString()) {
    return std::make_unique<Replace>(std::string(StringOf(*Member(*pattern, "String"))), std::nullopt, *content);
  }
  if (pattern != nullptr && Member(*pattern, "Regex") != nullptr && Member(*pattern, "Regex")->IsString()) {
    absl::StatusOr<Regex> regex = Regex::Compile(StringOf(*Member(*pattern, "Regex")));
    if (!regex.ok()) return regex.status();
    return std::make_unique<Replace>(std::string(), std::move(*regex), *content);
  }
  return JsonError("normalizer Replace", "needs a pattern {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace

absl::StatusOr<std::unique_ptr<const Normalizer>> MakeNormalizer(const Json* json) {
  if (json == nullptr) return std::unique_ptr<const Normalizer>();
  const std::string type = TypeOf(*json);
  if (type == "BertNormalizer") {
    const bool lowercase = GetBool(*json, "lowercase", true);
    // strip_accents null means "as lowercase" (`tokenizers`' rule).
    return std::make_unique<BertNormalizer>(GetBool(*json, "clean_text", true),
                                            GetBool(*json, "handle_chinese_chars", true),
                                            GetBool(*json, "strip_accents", lowercase), lowercase);
  }
  if (type == "NFC") return std::make_unique<UnicodeForm>(NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeForm>(NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Nmt") return std::make_unique<Nmt>();
  if (type == "Replace") return MakeReplace(*json);
  if (type == "Strip")
    return std::make_unique<Strip>(GetBool(*json, "strip_left", true), GetBool(*json, "strip_right", true));
  if (type == "Prepend") return std::make_unique<Prepend>(GetStringOr(*json, "prepend", std::string()));
  if (type == "Sequence") {
    const Json* list = Member(*json, "normalizers");
    if (list == nullptr || !list->IsArray()) return JsonError("normalizer Sequence", "needs the array 'normalizers'");
    std::vector<std::unique_ptr<const Normalizer>> steps;
    for (const Json& step : list->GetArray()) {
      absl::StatusOr<std::unique_ptr<const Normalizer>> made = MakeNormalizer(&step);
      if (!made.ok()) return made.status();
      if (*made) steps.push_back(std::move(*made));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  return Unsupported("normalizer", type, kSupported);
}

}  // namespace seqserve::tokenizer
