// A BERT-style tokenizer.json with a vocabulary small enough to read, for tests that need a
// tokenizer without a model's files (tests/tokenizer/, tests/text/).
#ifndef SEQSERVE_TESTS_TESTING_SMALL_TOKENIZER_H_
#define SEQSERVE_TESTS_TESTING_SMALL_TOKENIZER_H_

namespace seqserve::test_data {

// A BERT-style tokenizer with a vocabulary small enough to read: [CLS] A [SEP] (B [SEP]).
inline constexpr char kSmallBert[] = R"({
  "added_tokens": [{"id": 0, "content": "[PAD]", "special": true},
                   {"id": 1, "content": "[UNK]", "special": true},
                   {"id": 2, "content": "[CLS]", "special": true},
                   {"id": 3, "content": "[SEP]", "special": true}],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                 "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "b": 5, "c": 6,
                      "##a": 7, "##b": 8, "cafe": 9, "!": 10}}
})";

}  // namespace seqserve::test_data

#endif  // SEQSERVE_TESTS_TESTING_SMALL_TOKENIZER_H_
