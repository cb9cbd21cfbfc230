#include "runtime/tokenizer/regex.h"

#include <unicode/regex.h>
#include <unicode/utext.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace seqserve::tokenizer {
namespace {

// Note [Oniguruma's \s]: `\s` -> `\p{White_Space}`, `\S` -> `\P{White_Space}`; other escapes
// (including an escaped backslash before an `s`) are copied as they are.
std::string ToIcuSyntax(absl::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out.push_back(pattern[i]);
      continue;
    }
    const char next = pattern[++i];
    if (next == 's') {
      out += "\\p{White_Space}";
    } else if (next == 'S') {
      out += "\\P{White_Space}";
    } else {
      out.push_back('\\');
      out.push_back(next);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Regex> Regex::Compile(absl::string_view pattern) {
  const std::string icu_pattern = ToIcuSyntax(pattern);
  UErrorCode error = U_ZERO_ERROR;
  UParseError where;
  std::unique_ptr<icu::RegexPattern> compiled(icu::RegexPattern::compile(
      icu::UnicodeString::fromUTF8(icu::StringPiece(icu_pattern.data(), static_cast<int32_t>(icu_pattern.size()))), 0,
      where, error));
  if (U_FAILURE(error)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: the regular expression '", pattern,
                                                   "' does not compile (", u_errorName(error), " at offset ",
                                                   where.offset, ")"));
  }
  return Regex(std::move(compiled), std::string(pattern));
}

Regex::Regex(std::unique_ptr<icu::RegexPattern> pattern, std::string text)
    : pattern_(std::move(pattern)), pattern_text_(std::move(text)) {}
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

absl::Status Regex::ForEachMatch(absl::string_view text, const std::function<void(size_t, size_t)>& on_match) const {
  UErrorCode error = U_ZERO_ERROR;
  UText* utext = utext_openUTF8(nullptr, text.data(), static_cast<int64_t>(text.size()), &error);
  std::unique_ptr<icu::RegexMatcher> matcher(pattern_->matcher(error));
  if (U_FAILURE(error)) std::abort();  // only allocation fails here
  matcher->reset(utext);
  while (matcher->find(error) && U_SUCCESS(error)) {
    const int64_t begin = matcher->start64(error);
    const int64_t end = matcher->end64(error);
    if (U_FAILURE(error)) break;
    if (end > begin) on_match(static_cast<size_t>(begin), static_cast<size_t>(end));
  }
  matcher.reset();
  utext_close(utext);
  if (error == U_REGEX_STACK_OVERFLOW || error == U_REGEX_TIME_OUT) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the tokenizer's pattern '", pattern_text_, "' cannot match this text within its 8 MB budget (",
                     u_errorName(error), "); send shorter runs of one kind of character"));
  }
  if (U_FAILURE(error)) {
    return absl::InternalError(
        absl::StrCat("the tokenizer's pattern '", pattern_text_, "' failed: ", u_errorName(error)));
  }
  return absl::OkStatus();
}

}  // namespace seqserve::tokenizer
