// UTF-8 and the character classes Hugging Face `tokenizers` decides by, all from ICU.
//
// Note [Unicode 8.0 categories]: `tokenizers` decides BERT's control characters, punctuation and
// accents (general categories C*, P*, Mn) with the `unicode_categories` crate, whose tables are
// Unicode 8.0: a character assigned later is none of them there (U+11C41, Po since 9.0, is not
// punctuation; U+1E944, Mn since 9.0, is not stripped; U+0890, Cf since 14.0, is not removed).
// ICU 72 knows Unicode 15, so these predicates take ICU's category and also ask ICU for the
// character's age (u_charAge) — a character younger than 8.0 is treated as the crate treats it.
// (A character whose category changed after 8.0 would still follow ICU's newer category; the
// corpus has found none.) Whitespace and case mapping come from Rust's std in `tokenizers`, which
// is current Unicode: ICU's White_Space and full lower-case mapping, no age limit.
//
// Note [Unicode versions]: ICU 72 is Unicode 15.0; `tokenizers` 0.23 matches its regexes with
// Oniguruma and maps case with Rust's std, both of a later Unicode. For a character that is
// unassigned in 15.0 but assigned later (U+32431, CJK Extension J since 17.0), `\w`, `\p{L}` and
// lower-casing can therefore differ, and the ids with them. The equality tests draw their random
// code points from those assigned in Python 3.11's Unicode (14.0), where both agree on every id;
// characters newer than ICU's data are the one known difference. Debian's next ICU closes it.
//
// Plain functions of immutable data; safe from any thread.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_UNICODE_H_
#define SEQSERVE_RUNTIME_TOKENIZER_UNICODE_H_

#include <cstddef>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace seqserve::tokenizer {

// OK, or INVALID_ARGUMENT "invalid UTF-8 at byte N" for the first bad sequence.
absl::Status ValidateUtf8(absl::string_view text);

// The code point at text[i], advancing i past it. `text` must be valid UTF-8.
char32_t NextCodePoint(absl::string_view text, size_t& i);

// Bytes of the UTF-8 sequence that starts with `lead`, a valid lead byte.
inline size_t Utf8Length(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

void AppendUtf8(char32_t c, std::string& out);

// Rust's char::is_whitespace: the White_Space property.
bool IsWhitespace(char32_t c);
// Categories Cc, Cf, Co or Cs as of Unicode 8.0 (Note [Unicode 8.0 categories]).
bool IsOtherCategory(char32_t c);
// Category P* as of Unicode 8.0.
bool IsPunctuation(char32_t c);
// Category Mn as of Unicode 8.0.
bool IsNonspacingMark(char32_t c);

// Start of the whitespace run that ends at byte `end` of `text`, not before `floor`; end of the
// whitespace run that starts at `begin`. Byte offsets on code-point boundaries.
size_t WhitespaceBefore(absl::string_view text, size_t end, size_t floor);
size_t WhitespaceAfter(absl::string_view text, size_t begin);

// Appends Rust's char::to_lowercase(c): the full mapping of c alone (no Final_Sigma context).
void AppendLowercase(char32_t c, std::string& out);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
// Appends `text` (valid UTF-8) in the normal form to `out`.
void AppendNormalized(NormalForm form, absl::string_view text, std::string& out);

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_UNICODE_H_
