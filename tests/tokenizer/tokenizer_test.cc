// The tokenizer's contract where Hugging Face `tokenizers` cannot be the oracle (it takes only
// valid Unicode) or where the rule is easier to read as arithmetic: invalid UTF-8 is refused with
// its byte offset; truncation's arithmetic; refusals by name; one tokenizer shared by threads
// gives each the ids it gives alone. Id equality with `tokenizers` is tests/python/test_tokenizer.py.
#include "runtime/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/testing/small_tokenizer.h"

namespace seqserve::tokenizer {
namespace {

std::unique_ptr<const Tokenizer> Bert() {
  absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = Tokenizer::FromJson(test_data::kSmallBert);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

std::vector<int32_t> Ids(const Tokenizer& tokenizer, absl::string_view text, std::optional<absl::string_view> pair = {},
                         Truncation truncation = {}) {
  Encoding encoding;
  absl::Status status = tokenizer.Encode(text, pair, truncation, encoding);
  EXPECT_TRUE(status.ok()) << status;
  return encoding.ids;
}

TEST(TokenizerTest, EncodesWithSpecialTokensAndTypeIds) {
  auto tokenizer = Bert();
  ASSERT_NE(tokenizer, nullptr);
  Encoding encoding;
  ASSERT_TRUE(tokenizer->Encode("Café ab!", absl::string_view("ba [SEP]"), {}, encoding).ok());
  // café -> cafe (accents stripped with lower-casing); ab -> a ##b; ba -> b ##a; "[SEP]" typed in
  // the text is the special token itself.
  EXPECT_EQ(encoding.ids, (std::vector<int32_t>{2, 9, 4, 8, 10, 3, 5, 7, 3, 3}));
  EXPECT_EQ(encoding.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(tokenizer->family(), "WordPiece");
}

TEST(TokenizerTest, InvalidUtf8IsRefusedWithItsByteOffset) {
  auto tokenizer = Bert();
  ASSERT_NE(tokenizer, nullptr);
  struct Case {
    std::string text;
    std::string where;
  };
  const std::vector<Case> cases = {
      {"ab\xff"
       "cd",
       "at byte 2"},                         // a byte that never starts a sequence
      {"a\xc0\xaf", "at byte 1"},            // overlong encoding of '/'
      {"abc\xe2\x82", "at byte 3"},          // truncated at the end
      {"\xed\xa0\x80", "at byte 0"},         // a UTF-16 surrogate
      {"ok \xf4\x90\x80\x80", "at byte 3"},  // beyond U+10FFFF
  };
  for (const Case& c : cases) {
    Encoding encoding;
    absl::Status status = tokenizer->Encode(c.text, std::nullopt, {}, encoding);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.where;
    EXPECT_EQ(status.message(), "text: invalid UTF-8 " + c.where);
    status = tokenizer->Encode("fine", absl::string_view(c.text), {}, encoding);
    EXPECT_EQ(status.message(), "text_pair: invalid UTF-8 " + c.where);
  }
}

TEST(TokenizerTest, TextsAboveTheCapAreRefusedNotCut) {
  auto tokenizer = Bert();
  ASSERT_NE(tokenizer, nullptr);
  const std::string at_cap(kMaxTextBytes, 'a');
  const std::string above = at_cap + "a";
  Encoding encoding;
  // At the cap: one word of 1 MiB letters, longer than max_input_chars_per_word, so [UNK].
  ASSERT_TRUE(tokenizer->Encode(at_cap, std::nullopt, {}, encoding).ok());
  EXPECT_EQ(encoding.ids, (std::vector<int32_t>{2, 1, 3}));
  absl::Status status = tokenizer->Encode(above, std::nullopt, {}, encoding);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "text is 1048577 bytes; the tokenizer takes at most 1048576 bytes (1 MiB) per text");
  status = tokenizer->Encode("a", absl::string_view(above), {}, encoding);
  EXPECT_EQ(status.message(), "text_pair is 1048577 bytes; the tokenizer takes at most 1048576 bytes (1 MiB) per text");
}

TEST(TokenizerTest, MalformedFilesAreRefusedAtLoad) {
  std::string bert = test_data::kSmallBert;
  // A single-text template that names the second sequence would have nothing to fill it with.
  const std::string processor = R"({"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]})";
  std::string changed = bert;
  changed.replace(changed.find(processor), processor.size(),
                  R"({"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}],
                      "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                      "special_tokens": {}})");
  absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = Tokenizer::FromJson(changed);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().message(),
            "tokenizer.json: post_processor TemplateProcessing uses sequence B in the single template");
  // A string that is not UTF-8 (here a vocabulary entry) fails the parse, before anything uses it.
  changed = bert;
  changed.replace(changed.find("\"cafe\""), 6, "\"caf\xff\"");
  tokenizer = Tokenizer::FromJson(changed);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tokenizer.status().message().find("not valid JSON"), absl::string_view::npos) << tokenizer.status();
}

TEST(TokenizerTest, TruncationLeavesRoomForSpecialTokensAndCutsTheLongerText) {
  auto tokenizer = Bert();
  ASSERT_NE(tokenizer, nullptr);
  Truncation truncation;
  truncation.max_length = 6;  // 3 special tokens in a pair: 3 ids of text remain
  // a b c a b c (6) and b (1): the longer gives way, down to max(1, 3 - 1) = 2.
  EXPECT_EQ(Ids(*tokenizer, "a b c a b c", absl::string_view("b"), truncation),
            (std::vector<int32_t>{2, 4, 5, 3, 5, 3}));
  truncation.side = Truncation::Side::kLeft;
  EXPECT_EQ(Ids(*tokenizer, "a b c a b c", absl::string_view("b"), truncation),
            (std::vector<int32_t>{2, 5, 6, 3, 5, 3}));
  // Both too long: 3 = 1 + 2, the second text gets the odd one.
  truncation.side = Truncation::Side::kRight;
  EXPECT_EQ(Ids(*tokenizer, "a a a a", absl::string_view("b b b b"), truncation),
            (std::vector<int32_t>{2, 4, 3, 5, 5, 3}));
  // Only special tokens fit: both texts are emptied.
  truncation.max_length = 3;
  EXPECT_EQ(Ids(*tokenizer, "a a", absl::string_view("b"), truncation), (std::vector<int32_t>{2, 3, 3}));
  // Fewer than the special tokens, and OnlySecond without a pair, are refused as `tokenizers` does.
  Encoding encoding;
  truncation.max_length = 2;
  EXPECT_EQ(tokenizer->Encode("a", absl::string_view("b"), truncation, encoding).code(),
            absl::StatusCode::kInvalidArgument);
  truncation.max_length = 3;
  truncation.strategy = Truncation::Strategy::kOnlySecond;
  EXPECT_EQ(tokenizer->Encode("a b c", std::nullopt, truncation, encoding).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, UnsupportedComponentsAreRefusedByName) {
  const std::string bert = test_data::kSmallBert;
  const std::vector<std::pair<std::string, std::string>> swaps = {
      {R"({"type": "BertPreTokenizer"})", "pre-tokenizer 'Split'"},
      {R"({"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]})", "post-processor 'Split'"},
  };
  for (const auto& [component, expected] : swaps) {
    std::string changed = bert;
    changed.replace(changed.find(component), component.size(), R"({"type": "Split"})");
    absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = Tokenizer::FromJson(changed);
    ASSERT_FALSE(tokenizer.ok());
    EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(tokenizer.status().message().find(expected), absl::string_view::npos) << tokenizer.status();
  }
  EXPECT_EQ(Tokenizer::FromJson("{").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, ThreadsSharingOneTokenizerGetWhatOneThreadGets) {
  auto tokenizer = Bert();
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<std::string> texts = {"a b c", "Café ab!", "ba ba ba ba", "[CLS] x", "", "c a b a c"};
  std::vector<std::vector<int32_t>> alone;
  for (const std::string& text : texts) alone.push_back(Ids(*tokenizer, text));
  constexpr int kThreads = 4, kRounds = 2000;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Encoding encoding;
      for (int round = 0; round < kRounds; ++round) {
        const size_t i = static_cast<size_t>(round + t) % texts.size();
        if (!tokenizer->Encode(texts[i], std::nullopt, {}, encoding).ok() || encoding.ids != alone[i]) ++mismatches[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace seqserve::tokenizer
