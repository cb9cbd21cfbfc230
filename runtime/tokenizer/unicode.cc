#include "runtime/tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include "absl/strings/str_cat.h"

namespace seqserve::tokenizer {
namespace {

// True when `c` was assigned in Unicode 8.0 or earlier (Note [Unicode 8.0 categories]).
bool AssignedBy8(char32_t c) {
  UVersionInfo age;
  u_charAge(static_cast<UChar32>(c), age);
  return age[0] != 0 && age[0] <= 8;  // unassigned code points have age 0.0
}

bool InCategories(char32_t c, uint32_t mask) {
  if (c < 0x80) return (U_GET_GC_MASK(static_cast<UChar32>(c)) & mask) != 0;
  return (U_GET_GC_MASK(static_cast<UChar32>(c)) & mask) != 0 && AssignedBy8(c);
}

const icu::Normalizer2& NormalizerFor(NormalForm form) {
  UErrorCode error = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case NormalForm::kNfc: normalizer = icu::Normalizer2::getNFCInstance(error); break;
    case NormalForm::kNfd: normalizer = icu::Normalizer2::getNFDInstance(error); break;
    case NormalForm::kNfkc: normalizer = icu::Normalizer2::getNFKCInstance(error); break;
    case NormalForm::kNfkd: normalizer = icu::Normalizer2::getNFKDInstance(error); break;
  }
  // ICU's normalization data is built into libicudata; failing to open it is a broken install.
  if (U_FAILURE(error) || normalizer == nullptr) std::abort();
  return *normalizer;
}

}  // namespace

absl::Status ValidateUtf8(absl::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t length = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < length;) {
    if (bytes[i] < 0x80) {
      ++i;
      continue;
    }
    const int32_t at = i;
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", at));
  }
  return absl::OkStatus();
}

char32_t NextCodePoint(absl::string_view text, size_t& i) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  UChar32 c;
  U8_NEXT_UNSAFE(bytes, i, c);
  return static_cast<char32_t>(c);
}

void AppendUtf8(char32_t c, std::string& out) {
  char buffer[U8_MAX_LENGTH];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buffer, length, static_cast<UChar32>(c));
  out.append(buffer, static_cast<size_t>(length));
}

bool IsWhitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= '\t' && c <= '\r');
  return u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_WHITE_SPACE);
}

bool IsOtherCategory(char32_t c) { return InCategories(c, U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK); }

bool IsPunctuation(char32_t c) { return InCategories(c, U_GC_P_MASK); }

bool IsNonspacingMark(char32_t c) { return InCategories(c, U_GC_MN_MASK); }

// Start of the whitespace run that ends at `end`, not before `floor`.
size_t WhitespaceBefore(absl::string_view text, size_t end, size_t floor) {
  while (end > floor) {
    size_t start = end - 1;
    while (start > floor && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t probe = start;
    if (!IsWhitespace(NextCodePoint(text, probe))) break;
    end = start;
  }
  return end;
}

// End of the whitespace run that starts at `begin`.
size_t WhitespaceAfter(absl::string_view text, size_t begin) {
  while (begin < text.size()) {
    size_t next = begin;
    if (!IsWhitespace(NextCodePoint(text, next))) break;
    begin = next;
  }
  return begin;
}

void AppendLowercase(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    return;
  }
  UChar source[2];
  int32_t source_length = 0;
  U16_APPEND_UNSAFE(source, source_length, static_cast<UChar32>(c));
  UChar lower[8];  // full lower-case mappings are at most 3 code points
  UErrorCode error = U_ZERO_ERROR;
  const int32_t length = u_strToLower(lower, 8, source, source_length, "", &error);
  if (U_FAILURE(error)) {
    AppendUtf8(c, out);
    return;
  }
  for (int32_t i = 0; i < length;) {
    UChar32 mapped;
    U16_NEXT_UNSAFE(lower, i, mapped);
    AppendUtf8(static_cast<char32_t>(mapped), out);
  }
}

void AppendNormalized(NormalForm form, absl::string_view text, std::string& out) {
  const icu::Normalizer2& normalizer = NormalizerFor(form);
  UErrorCode error = U_ZERO_ERROR;
  // ASCII is in every normal form: skip ICU's work for the common case.
  bool ascii = true;
  for (char byte : text) ascii = ascii && static_cast<unsigned char>(byte) < 0x80;
  if (ascii) {
    out.append(text.data(), text.size());
    return;
  }
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
  normalizer.normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink, nullptr, error);
  if (U_FAILURE(error)) std::abort();  // input is valid UTF-8; ICU only fails on allocation
}

}  // namespace seqserve::tokenizer
