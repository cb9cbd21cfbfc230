// A compiled regular expression from tokenizer.json, run by ICU's engine on UTF-8.
//
// Note [Oniguruma's \s]: Hugging Face `tokenizers` runs its patterns with Oniguruma, where `\s`
// is the White_Space property (it matches U+000B and U+0085); ICU's `\s` is [\t\n\f\r\p{Z}]. So
// Compile rewrites `\s`/`\S` to `\p{White_Space}`/`\P{White_Space}` before ICU sees the pattern.
// `\w`, `\d`, `\p{L}`, `\p{N}` and look-ahead mean the same in both engines.
//
// Note [regex stack]: ICU's matcher keeps a backtracking stack that grows with the length of a
// repetition it is inside (about 24 bytes per character for `\w+` or ` {2,}`), capped at 8 MB by
// default: a run of ~300,000 characters in one match. The cap stays, so a pattern can never cost
// a request more than 8 MB; past it the text is refused with a clear error rather than matched
// differently. The hot patterns do not meet it: BertPreTokenizer and Whitespace split with
// character classes (pre_tokenizer.cc), and ICU runs GPT-2's `\p{L}+` without stacking.
//
// Thread-safe: the pattern is immutable; each ForEachMatch makes its own matcher.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_REGEX_H_
#define SEQSERVE_RUNTIME_TOKENIZER_REGEX_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include <unicode/uversion.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

U_NAMESPACE_BEGIN
class RegexPattern;
U_NAMESPACE_END

namespace seqserve::tokenizer {

class Regex {
 public:
  // INVALID_ARGUMENT naming the pattern when ICU cannot compile it.
  static absl::StatusOr<Regex> Compile(absl::string_view pattern);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  // Calls on_match(begin, end) with byte offsets of each non-overlapping match in `text` (valid
  // UTF-8), left to right; empty matches are skipped. RESOURCE_EXHAUSTED when one match needs
  // more than ICU's backtracking budget (Note [regex stack]); the matches before it were reported.
  absl::Status ForEachMatch(absl::string_view text, const std::function<void(size_t, size_t)>& on_match) const;

 private:
  Regex(std::unique_ptr<icu::RegexPattern> pattern, std::string text);
  std::unique_ptr<icu::RegexPattern> pattern_;
  std::string pattern_text_;  // as tokenizer.json writes it, for messages
};

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_REGEX_H_
