// Text into rows (runtime/text/text_encoder.h) and their assembly (RowChunks::Join): one row per
// text at its own length, inputs filled by feed, truncation and refusals by name, prompts; the
// joined request's answer in text order whatever order rows finish in, and a failing row
// failing the request once.
#include "runtime/text/text_encoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "runtime/execution/row_chunks.h"
#include "tests/testing/small_tokenizer.h"

namespace seqserve {
namespace {

TextModel SmallModel(TextTask task = TextTask::kEmbedding, DataType ids = DataType::kInt64) {
  TextModel model;
  model.task = task;
  absl::StatusOr<std::unique_ptr<const tokenizer::Tokenizer>> loaded =
      tokenizer::Tokenizer::FromJson(test_data::kSmallBert);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  model.tokenizer = std::move(*loaded);
  model.max_length = 6;
  model.inputs = {{"input_ids", TextModel::Feed::kIds, ids},
                  {"attention_mask", TextModel::Feed::kMask, DataType::kInt64},
                  {"token_type_ids", TextModel::Feed::kTypeIds, DataType::kInt64}};
  model.output = "embedding";
  model.width = 2;
  return model;
}

std::vector<int64_t> Values(const Tensor& t) {
  std::vector<int64_t> out;
  const size_t element = ElementSize(t.dtype);
  for (size_t i = 0; i < t.bytes().size(); i += element) {
    if (t.dtype == DataType::kInt32) {
      int32_t v;
      std::memcpy(&v, t.bytes().data() + i, 4);
      out.push_back(v);
    } else {
      int64_t v;
      std::memcpy(&v, t.bytes().data() + i, 8);
      out.push_back(v);
    }
  }
  return out;
}

TEST(TextEncoderTest, OneRowPerTextAtItsOwnLength) {
  const TextModel model = SmallModel(TextTask::kClassification);
  TextInput input;
  input.texts = {"a", "a b c", "cafe"};
  absl::StatusOr<EncodedTexts> encoded = EncodeTexts(model, input, {});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  ASSERT_EQ(encoded->rows.size(), 3u);
  EXPECT_EQ(encoded->tokens, (std::vector<int64_t>{3, 5, 3}));
  EXPECT_EQ(encoded->total_tokens, 11);
  const InferenceRequest& second = *encoded->rows[1];
  EXPECT_EQ(second.rows, 1);
  EXPECT_EQ(second.sequence_length, 5);
  ASSERT_EQ(second.inputs.size(), 3u);
  EXPECT_EQ(second.inputs[0].name, "input_ids");
  EXPECT_EQ(second.inputs[0].shape, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(Values(second.inputs[0]), (std::vector<int64_t>{2, 4, 5, 6, 3}));
  EXPECT_EQ(Values(second.inputs[1]), (std::vector<int64_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(Values(second.inputs[2]), (std::vector<int64_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(encoded->bytes, 11 * 3 * 8);

  // Pairs get their type ids; INT32 inputs are written as INT32.
  const TextModel int32 = SmallModel(TextTask::kRerank, DataType::kInt32);
  input.texts = {"a"};
  input.pairs = {"b c"};
  encoded = EncodeTexts(int32, input, {});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->rows[0]->inputs[0].dtype, DataType::kInt32);
  EXPECT_EQ(Values(encoded->rows[0]->inputs[0]), (std::vector<int64_t>{2, 4, 3, 5, 6, 3}));
  EXPECT_EQ(Values(encoded->rows[0]->inputs[2]), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
}

TEST(TextEncoderTest, TooLongIsRefusedNamingItsTokensUnlessTruncated) {
  const TextModel model = SmallModel();
  TextInput input;
  input.texts = {"a", "a b c a b"};  // 7 tokens with [CLS] and [SEP]; the model takes 6
  absl::StatusOr<EncodedTexts> refused = EncodeTexts(model, input, {});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "input 1 is 7 tokens long, more than the model takes (6); send shorter text or ask for truncation");

  TextOptions right;
  right.truncate = true;
  absl::StatusOr<EncodedTexts> cut = EncodeTexts(model, input, right);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(Values(cut->rows[1]->inputs[0]), (std::vector<int64_t>{2, 4, 5, 6, 4, 3}));
  TextOptions left = right;
  left.side = tokenizer::Truncation::Side::kLeft;
  cut = EncodeTexts(model, input, left);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_EQ(Values(cut->rows[1]->inputs[0]), (std::vector<int64_t>{2, 5, 6, 4, 5, 3}));
}

TEST(TextEncoderTest, PromptsAndTokenIds) {
  const TextModel model = SmallModel();
  TextInput input;
  input.texts = {"b"};
  TextOptions prompted;
  prompted.prompt = "cafe ";
  absl::StatusOr<EncodedTexts> encoded = EncodeTexts(model, input, prompted);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(Values(encoded->rows[0]->inputs[0]), (std::vector<int64_t>{2, 9, 5, 3}));

  TextInput ids;
  ids.token_ids = {{2, 4, 3}, {2, 3}};
  encoded = EncodeTexts(model, ids, {});
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(encoded->tokens, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Values(encoded->rows[1]->inputs[0]), (std::vector<int64_t>{2, 3}));
}

TEST(TextEncoderTest, RefusalsNameTheInput) {
  const TextModel embedding = SmallModel();
  auto refused = [](const TextModel& model, TextInput input) {
    absl::StatusOr<EncodedTexts> encoded = EncodeTexts(model, input, {});
    EXPECT_FALSE(encoded.ok());
    return std::string(encoded.status().message());
  };
  TextInput invalid;
  invalid.texts = {"a", "b\xff"};
  EXPECT_EQ(refused(embedding, invalid).rfind("input 1: ", 0), 0u) << refused(embedding, invalid);
  TextInput paired;
  paired.texts = {"a"};
  paired.pairs = {"b"};
  EXPECT_EQ(refused(embedding, paired), "this model embeds single texts; it takes no text_pair");
  TextInput single;
  single.texts = {"a"};
  EXPECT_EQ(refused(SmallModel(TextTask::kRerank), single),
            "this model is a cross-encoder: it scores (text, text_pair) pairs");
  TextInput uneven;
  uneven.texts = {"a", "b"};
  uneven.pairs = {"c"};
  EXPECT_EQ(refused(SmallModel(TextTask::kRerank), uneven), "2 texts but 1 text_pairs; send one pair per text");
  TextInput ids;
  ids.token_ids = {{2, 3}, {}};
  EXPECT_EQ(refused(embedding, ids), "input 1 has no token ids");
  ids.token_ids = {{2, -1}};
  EXPECT_EQ(refused(embedding, ids), "input 0 has token id -1, not a vocabulary id");
  ids.token_ids = {{1, 1, 1, 1, 1, 1, 1}};
  EXPECT_EQ(refused(embedding, ids),
            "input 0 is 7 tokens long, more than the model takes (6); send shorter text or ask for truncation");
}

// The joined request's answer is its rows' outputs in text order, whatever order they finish in.
TEST(TextEncoderTest, JoinedRowsAnswerInTextOrderAndFailOnce) {
  const TextModel model = SmallModel();
  TextInput input;
  input.texts = {"a", "a b", "a b c"};
  for (bool fail : {false, true}) {
    absl::StatusOr<EncodedTexts> encoded = EncodeTexts(model, input, {});
    ASSERT_TRUE(encoded.ok());
    auto whole = std::make_unique<InferenceRequest>();
    whole->model_name = "m";
    whole->model_version = 4;
    whole->rows = 3;
    int calls = 0;
    absl::StatusOr<InferenceResponse> answer;
    whole->done = [&](absl::StatusOr<InferenceResponse> result) {
      ++calls;
      answer = std::move(result);
    };
    RowChunks rows = RowChunks::Join(std::move(whole), std::move(encoded->rows));
    ASSERT_EQ(rows.parts().size(), 3u);
    EXPECT_EQ(rows.parts()[2]->model_name, "m");
    EXPECT_EQ(rows.parts()[2]->model_version, 4);
    for (int i : {2, 0, 1}) {
      InferenceRequest& row = *rows.parts()[i];
      if (fail && i == 0) {
        row.done(absl::InternalError("row 0 failed"));
        EXPECT_TRUE(rows.parts()[1]->cancel->cancelled());  // the others need not run
        continue;
      }
      InferenceResponse response;
      response.model_version = 4;
      Tensor out;
      out.name = "embedding";
      out.dtype = DataType::kFp32;
      out.shape = {1, 2};
      const float values[2] = {static_cast<float>(i), static_cast<float>(10 * i)};
      out.data.assign(reinterpret_cast<const char*>(values), sizeof values);
      response.outputs.push_back(std::move(out));
      row.done(std::move(response));
    }
    EXPECT_EQ(calls, 1);
    if (fail) {
      EXPECT_EQ(answer.status().message(), "row 0 failed");
      continue;
    }
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->outputs[0].shape, (std::vector<int64_t>{3, 2}));
    std::vector<float> got(6);
    std::memcpy(got.data(), answer->outputs[0].bytes().data(), sizeof(float) * 6);
    EXPECT_EQ(got, (std::vector<float>{0, 0, 1, 10, 2, 20}));
  }
}

}  // namespace
}  // namespace seqserve
