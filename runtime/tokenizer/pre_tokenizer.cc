#include "runtime/tokenizer/pre_tokenizer.h"

#include <unicode/uniset.h>

#include <array>
#include <optional>
#include <utility>

#include "runtime/tokenizer/buffers.h"
#include "runtime/tokenizer/regex.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

constexpr char kSupported[] = "BertPreTokenizer, Whitespace, WhitespaceSplit, ByteLevel, Metaspace, Sequence";

bool IsAsciiPunctuation(char32_t c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

// Splits every word at whitespace (dropped) and, when `punctuation`, around each punctuation
// character (kept as a word of its own): BertPreTokenizer and WhitespaceSplit.
class CharacterSplit final : public PreTokenizer {
 public:
  explicit CharacterSplit(bool punctuation) : punctuation_(punctuation) {}

  absl::Status Split(const Words& in, bool, Words& out) const override {
    out.text = in.text;
    out.spans.clear();
    for (const Words::Span& span : in.spans) {
      size_t word_begin = span.begin;
      for (size_t i = span.begin; i < span.end;) {
        const size_t at = i;
        const char32_t c = NextCodePoint(in.text, i);
        if (IsWhitespace(c)) {
          out.Add(word_begin, at);
          word_begin = i;
        } else if (punctuation_ && (IsAsciiPunctuation(c) || IsPunctuation(c))) {
          out.Add(word_begin, at);
          out.Add(at, i);
          word_begin = i;
        }
      }
      out.Add(word_begin, span.end);
    }
    return absl::OkStatus();
  }

 private:
  const bool punctuation_;
};

// `tokenizers`' Whitespace: the matches of `\w+|[^\w\s]+` — runs of word characters and runs
// of other non-space characters — as words, whitespace dropped. Run with the pattern's own
// classes as ICU defines them (`\w` = [\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\u200c\u200d]; `\s` =
// White_Space, Note [Oniguruma's \s]) instead of the regex engine, whose backtracking stack would
// refuse a word of ~300,000 characters (Note [regex stack]); the result is the same.
class WordRuns final : public PreTokenizer {
 public:
  WordRuns() {
    UErrorCode error = U_ZERO_ERROR;
    word_.applyPattern(icu::UnicodeString(u"[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\u200c\\u200d]"), error);
    if (U_FAILURE(error)) std::abort();  // a constant pattern; fails only without ICU's data
    word_.freeze();
  }

  absl::Status Split(const Words& in, bool, Words& out) const override {
    out.text = in.text;
    out.spans.clear();
    for (const Words::Span& span : in.spans) {
      size_t run_begin = span.begin;
      int run_kind = 0;  // 0: whitespace, 1: word characters, 2: others
      for (size_t i = span.begin; i < span.end;) {
        const size_t at = i;
        const char32_t c = NextCodePoint(in.text, i);
        const int kind = word_.contains(static_cast<UChar32>(c)) ? 1 : IsWhitespace(c) ? 0 : 2;
        if (kind == run_kind) continue;
        if (run_kind != 0) out.Add(run_begin, at);
        run_begin = at;
        run_kind = kind;
      }
      if (run_kind != 0) out.Add(run_begin, span.end);
    }
    return absl::OkStatus();
  }

 private:
  icu::UnicodeSet word_;
};

// GPT-2's byte-level pre-tokenizer: optionally a leading space, the GPT-2 pattern's matches as
// words, and each byte of a word written as the printable character GPT-2's alphabet gives it.
class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, std::optional<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {
    // Note [GPT-2's byte alphabet]: the bytes that are printable Latin-1 ('!'..'~', '¡'..'¬',
    // '®'..'ÿ') stand for themselves; the other 68, in byte order, become U+0100, U+0101, ...
    int next_unprintable = 0;
    for (int byte = 0; byte < 256; ++byte) {
      const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE);
      const char32_t c = printable ? static_cast<char32_t>(byte) : static_cast<char32_t>(256 + next_unprintable++);
      AppendUtf8(c, alphabet_[byte]);
    }
  }

  absl::Status Split(const Words& in, bool, Words& out) const override {
    out.text.clear();
    out.spans.clear();
    std::string& piece = PieceBuffer();
    for (const Words::Span& span : in.spans) {
      piece.clear();
      if (add_prefix_space_ && in.text[span.begin] != ' ') piece.push_back(' ');
      piece.append(in.text, span.begin, span.end - span.begin);
      auto emit = [&](size_t begin, size_t end) {
        const size_t start = out.text.size();
        for (size_t i = begin; i < end; ++i) out.text += alphabet_[static_cast<unsigned char>(piece[i])];
        out.Add(start, out.text.size());
      };
      if (regex_.has_value()) {
        absl::Status matched = regex_->ForEachMatch(piece, emit);
        if (!matched.ok()) return matched;
      } else {
        emit(0, piece.size());
      }
    }
    ReleaseIfLarge(piece);
    return absl::OkStatus();
  }

 private:
  static std::string& PieceBuffer() {
    thread_local std::string buffer;
    return buffer;
  }

  const bool add_prefix_space_;
  const std::optional<Regex> regex_;
  std::array<std::string, 256> alphabet_;
};

// SentencePiece's whitespace handling: spaces become `replacement` ('▁'), which is prepended to
// every word ("always"), to the text's first word ("first") or never; with `split`, each
// replacement starts a new word.
class Metaspace final : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}

  absl::Status Split(const Words& in, bool at_start, Words& out) const override {
    out.text.clear();
    out.spans.clear();
    for (size_t s = 0; s < in.spans.size(); ++s) {
      const absl::string_view word = in.word(s);
      const size_t start = out.text.size();
      const bool starts_with_replacement =
          word.substr(0, replacement_.size()) == replacement_ || (!word.empty() && word[0] == ' ');
      if (!starts_with_replacement &&
          (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && at_start && in.spans[s].begin == 0))) {
        out.text += replacement_;
      }
      for (char byte : word) {
        if (byte == ' ') {
          out.text += replacement_;
        } else {
          out.text.push_back(byte);
        }
      }
      if (!split_) {
        out.Add(start, out.text.size());
        continue;
      }
      // Each replacement begins a word ("merged with next").
      size_t word_begin = start;
      for (size_t at = out.text.find(replacement_, start + 1); at != std::string::npos;
           at = out.text.find(replacement_, at + replacement_.size())) {
        out.Add(word_begin, at);
        word_begin = at;
      }
      out.Add(word_begin, out.text.size());
    }
    return absl::OkStatus();
  }

 private:
  const std::string replacement_;
  const Prepend prepend_;
  const bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<const PreTokenizer>> steps) : steps_(std::move(steps)) {}

  absl::Status Split(const Words& in, bool at_start, Words& out) const override {
    thread_local Words a, b;
    const Words* current = &in;
    for (size_t i = 0; i < steps_.size(); ++i) {
      Words& next = i + 1 == steps_.size() ? out : (current == &a ? b : a);
      absl::Status split = steps_[i]->Split(*current, at_start, next);
      if (!split.ok()) return split;
      current = &next;
    }
    if (steps_.empty()) out = in;
    for (Words* buffer : {&a, &b}) {
      ReleaseIfLarge(buffer->text);
      ReleaseIfLarge(buffer->spans);
    }
    return absl::OkStatus();
  }

 private:
  const std::vector<std::unique_ptr<const PreTokenizer>> steps_;
};

absl::Status AppendSteps(const Json& sequence, std::vector<std::unique_ptr<const PreTokenizer>>& steps);

// GPT-2's pattern, which ByteLevel uses when "use_regex" is true.
constexpr char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace

absl::StatusOr<std::unique_ptr<const PreTokenizer>> MakePreTokenizer(const Json* json) {
  if (json == nullptr) return std::unique_ptr<const PreTokenizer>();
  const std::string type = TypeOf(*json);
  if (type == "BertPreTokenizer") return std::make_unique<CharacterSplit>(true);
  if (type == "WhitespaceSplit") return std::make_unique<CharacterSplit>(false);
  if (type == "Whitespace") return std::make_unique<WordRuns>();
  if (type == "ByteLevel") {
    std::optional<Regex> regex;
    if (GetBool(*json, "use_regex", true)) {
      absl::StatusOr<Regex> compiled = Regex::Compile(kGpt2Pattern);
      if (!compiled.ok()) return compiled.status();
      regex = std::move(*compiled);
    }
    return std::make_unique<ByteLevel>(GetBool(*json, "add_prefix_space", true), std::move(regex));
  }
  if (type == "Metaspace") {
    const std::string replacement = GetStringOr(*json, "replacement", std::string("\u2581"));
    // Files written before `tokenizers` 0.19 say add_prefix_space instead of prepend_scheme.
    const std::string scheme = GetStringOr(*json, "prepend_scheme",
                                           std::string(GetBool(*json, "add_prefix_space", true) ? "always" : "never"));
    Metaspace::Prepend prepend;
    if (scheme == "always") {
      prepend = Metaspace::Prepend::kAlways;
    } else if (scheme == "first") {
      prepend = Metaspace::Prepend::kFirst;
    } else if (scheme == "never") {
      prepend = Metaspace::Prepend::kNever;
    } else {
      return JsonError("pre_tokenizer Metaspace", "has an unknown prepend_scheme '" + scheme + "'");
    }
    if (replacement.empty()) return JsonError("pre_tokenizer Metaspace", "has an empty replacement");
    return std::make_unique<Metaspace>(replacement, prepend, GetBool(*json, "split", true));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<const PreTokenizer>> steps;
    absl::Status flattened = AppendSteps(*json, steps);
    if (!flattened.ok()) return flattened;
    return std::make_unique<Sequence>(std::move(steps));
  }
  return Unsupported("pre-tokenizer", type, kSupported);
}

namespace {

// A Sequence's steps, nested Sequences flattened into it (Sequence::Split's buffers are per
// thread, so one level only).
absl::Status AppendSteps(const Json& sequence, std::vector<std::unique_ptr<const PreTokenizer>>& steps) {
  const Json* list = Member(sequence, "pretokenizers");
  if (list == nullptr || !list->IsArray())
    return JsonError("pre_tokenizer Sequence", "needs the array 'pretokenizers'");
  for (const Json& step : list->GetArray()) {
    if (TypeOf(step) == "Sequence") {
      absl::Status nested = AppendSteps(step, steps);
      if (!nested.ok()) return nested;
      continue;
    }
    absl::StatusOr<std::unique_ptr<const PreTokenizer>> made = MakePreTokenizer(&step);
    if (!made.ok()) return made.status();
    if (*made) steps.push_back(std::move(*made));
  }
  return absl::OkStatus();
}

}  // namespace

}  // namespace seqserve::tokenizer
