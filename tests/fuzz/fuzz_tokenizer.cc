// libFuzzer target for runtime/tokenizer/: arbitrary bytes as a text (and a pair) through four
// tokenizers that together use every component seqserve implements. Input: byte 0 picks the
// tokenizer (low 2 bits), whether there is a pair (bit 2) and the truncation strategy and side
// (bits 3-5); byte 1 is max_length (0: none); the rest is the text, and the pair after the first
// 0xFF byte (never valid UTF-8, so it only ever separates).
//
// Checks: Encode either succeeds or fails with INVALID_ARGUMENT (invalid UTF-8 naming a byte
// inside the text, or a truncation `tokenizers` refuses too) or RESOURCE_EXHAUSTED (a regex past
// its budget); on success ids and type ids have one entry per token, every id is in the
// vocabulary, the encoding fits max_length, and encoding again gives the same result.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"

namespace {

using seqserve::tokenizer::Encoding;
using seqserve::tokenizer::Tokenizer;
using seqserve::tokenizer::Truncation;

#define FUZZ_CHECK(condition)                                                             \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      std::fprintf(stderr, "check failed: %s (%s:%d)\n", #condition, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// GPT-2's byte alphabet as JSON strings (Note [GPT-2's byte alphabet]), for a byte-level vocab.
std::vector<std::string> ByteAlphabet() {
  std::vector<std::string> out;
  int next = 0;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
    const uint32_t c = printable ? static_cast<uint32_t>(byte) : static_cast<uint32_t>(256 + next++);
    char escaped[8];
    std::snprintf(escaped, sizeof(escaped), "\\u%04X", c);
    out.push_back(escaped);
  }
  return out;
}

std::string ByteLevelBpe() {
  std::string vocab = R"("<s>": 0, "</s>": 1, "<mask>": 2)";
  const std::vector<std::string> alphabet = ByteAlphabet();
  for (size_t i = 0; i < alphabet.size(); ++i) vocab += ", \"" + alphabet[i] + "\": " + std::to_string(3 + i);
  // \u0120 is the space's stand-in: "Ġt", "Ġth", "Ġthe", "in", "ing".
  vocab += R"(, "\u0120t": 300, "\u0120th": 301, "\u0120the": 302, "in": 303, "ing": 304)";
  return R"({"added_tokens": [{"id": 0, "content": "<s>", "special": true},
                              {"id": 1, "content": "</s>", "special": true},
                              {"id": 2, "content": "<mask>", "special": true, "lstrip": true, "normalized": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]},
    "model": {"type": "BPE", "vocab": {)" +
         vocab + R"(},
              "merges": [["\u0120", "t"], ["\u0120t", "h"], ["\u0120th", "e"], "i n", "in g"]}})";
}

constexpr char kWordPiece[] = R"({
  "added_tokens": [{"id": 1, "content": "[UNK]", "special": true}, {"id": 2, "content": "[CLS]", "special": true},
                   {"id": 3, "content": "[SEP]", "special": true}],
  "normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "max_input_chars_per_word": 100,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "b": 5, "##a": 6, "##b": 7,
                      "é": 8, "##é": 9, "東": 10, "!": 11, "😀": 12}}})";

constexpr char kUnigram[] = R"({
  "added_tokens": [{"id": 0, "content": "<s>", "special": true}, {"id": 1, "content": "</s>", "special": true},
                   {"id": 2, "content": "<unk>", "special": true}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Nmt"}, {"type": "NFKC"},
                 {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
  "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
               {"SpecialToken": {"id": "</s>", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
             {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
             {"SpecialToken": {"id": "</s>", "type_id": 1}}],
    "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                       "</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
  "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": true,
            "vocab": [["<s>", 0], ["</s>", 0], ["<unk>", 0], ["\u2581", -2], ["a", -3], ["b", -3], ["ab", -2.5],
                      ["\u2581a", -2], ["<0x41>", -9], ["<0xC3>", -9], ["<0xA9>", -9]]}})";

constexpr char kBpeWhitespace[] = R"({
  "added_tokens": [{"id": 0, "content": "[UNK]", "special": true},
                   {"id": 1, "content": "Hello", "special": false, "normalized": true, "rstrip": true}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Lowercase"}, {"type": "Strip"},
                 {"type": "Prepend", "prepend": "_"}]},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Whitespace"}]},
  "post_processor": null,
  "model": {"type": "BPE", "unk_token": "[UNK]", "fuse_unk": true, "continuing_subword_prefix": "##",
            "vocab": {"[UNK]": 0, "hello": 1, "_": 2, "a": 3, "##a": 4, "b": 5, "##b": 6, "ab": 7, "##ab": 8},
            "merges": ["a ##b", "##a ##b"]}})";

struct Loaded {
  std::vector<std::unique_ptr<const Tokenizer>> tokenizers;
};

const Loaded& Tokenizers() {
  static const Loaded* loaded = [] {
    auto* out = new Loaded;
    for (const std::string& json :
         {ByteLevelBpe(), std::string(kWordPiece), std::string(kUnigram), std::string(kBpeWhitespace)}) {
      absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = Tokenizer::FromJson(json);
      if (!tokenizer.ok()) {
        std::fprintf(stderr, "fuzz tokenizer does not load: %s\n", std::string(tokenizer.status().message()).c_str());
        std::abort();
      }
      out->tokenizers.push_back(std::move(*tokenizer));
    }
    return out;
  }();
  return *loaded;
}

constexpr int32_t kVocabularySizes[] = {305, 13, 11, 9};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int which = data[0] & 3;
  const bool has_pair = (data[0] & 4) != 0;
  Truncation truncation;
  truncation.max_length = data[1];
  truncation.strategy = (data[0] & 0x18) == 0x08   ? Truncation::Strategy::kOnlyFirst
                        : (data[0] & 0x18) == 0x10 ? Truncation::Strategy::kOnlySecond
                                                   : Truncation::Strategy::kLongestFirst;
  truncation.side = (data[0] & 0x20) != 0 ? Truncation::Side::kLeft : Truncation::Side::kRight;
  const std::string rest(reinterpret_cast<const char*>(data + 2), size - 2);
  const size_t separator = rest.find('\xff');
  const std::string text = separator == std::string::npos ? rest : rest.substr(0, separator);
  const std::string pair = separator == std::string::npos ? std::string() : rest.substr(separator + 1);
  std::optional<absl::string_view> pair_view;
  if (has_pair) pair_view = pair;

  const Tokenizer& tokenizer = *Tokenizers().tokenizers[static_cast<size_t>(which)];
  Encoding encoding;
  const absl::Status status = tokenizer.Encode(text, pair_view, truncation, encoding);
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument ||
               status.code() == absl::StatusCode::kResourceExhausted);
    FUZZ_CHECK(!status.message().empty());
    return 0;
  }
  FUZZ_CHECK(encoding.ids.size() == encoding.type_ids.size());
  for (int32_t id : encoding.ids) FUZZ_CHECK(id >= 0 && id < kVocabularySizes[which]);
  if (truncation.max_length > 0) FUZZ_CHECK(encoding.ids.size() <= truncation.max_length);
  Encoding again;
  FUZZ_CHECK(tokenizer.Encode(text, pair_view, truncation, again).ok());
  FUZZ_CHECK(again.ids == encoding.ids && again.type_ids == encoding.type_ids);
  return 0;
}
