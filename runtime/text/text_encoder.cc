#include "runtime/text/text_encoder.h"

#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace seqserve {
namespace {

// One [1, n] tensor of `dtype` holding `values`.
template <typename Values>
Tensor RowTensor(const TextModel::Input& input, const Values& values, size_t n) {
  Tensor t;
  t.name = input.name;
  t.dtype = input.dtype;
  t.shape = {1, static_cast<int64_t>(n)};
  const size_t element = ElementSize(input.dtype);
  t.data.resize(n * element);
  char* out = t.data.data();
  for (size_t i = 0; i < n; ++i) {
    if (input.dtype == DataType::kInt32) {
      const int32_t v = static_cast<int32_t>(values(i));
      std::memcpy(out + i * element, &v, sizeof v);
    } else {
      const int64_t v = values(i);
      std::memcpy(out + i * element, &v, sizeof v);
    }
  }
  return t;
}

// The row's request: each model input filled from `id(i)` / `type(i)` for its n tokens.
template <typename Ids, typename Types>
std::unique_ptr<InferenceRequest> RowRequest(const TextModel& model, size_t n, const Ids& id, const Types& type) {
  auto row = std::make_unique<InferenceRequest>();
  row->rows = 1;
  row->sequence_length = static_cast<int64_t>(n);
  row->inputs.reserve(model.inputs.size());
  for (const TextModel::Input& input : model.inputs) {
    switch (input.feed) {
      case TextModel::Feed::kIds: row->inputs.push_back(RowTensor(input, id, n)); break;
      case TextModel::Feed::kMask:
        row->inputs.push_back(RowTensor(
            input, [](size_t) -> int64_t { return 1; }, n));
        break;
      case TextModel::Feed::kTypeIds: row->inputs.push_back(RowTensor(input, type, n)); break;
    }
  }
  return row;
}

void Add(EncodedTexts& out, std::unique_ptr<InferenceRequest> row) {
  const int64_t n = row->sequence_length;
  for (const Tensor& t : row->inputs) out.bytes += static_cast<int64_t>(t.data.size());
  out.tokens.push_back(n);
  out.total_tokens += n;
  out.rows.push_back(std::move(row));
}

absl::Status TooLong(size_t index, int64_t tokens, int64_t limit) {
  return absl::InvalidArgumentError(absl::StrCat("input ", index, " is ", tokens,
                                                 " tokens long, more than the model takes (", limit,
                                                 "); send shorter text or ask for truncation"));
}

absl::StatusOr<EncodedTexts> EncodeIds(const TextModel& model, const TextInput& input) {
  EncodedTexts out;
  const bool int32 = model.inputs.empty() ? false : model.inputs.front().dtype == DataType::kInt32;
  for (size_t i = 0; i < input.token_ids.size(); ++i) {
    const std::vector<int64_t>& ids = input.token_ids[i];
    if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat("input ", i, " has no token ids"));
    if (static_cast<int64_t>(ids.size()) > model.max_length) {
      return TooLong(i, static_cast<int64_t>(ids.size()), model.max_length);
    }
    for (int64_t id : ids) {
      if (id < 0 || (int32 && id > std::numeric_limits<int32_t>::max())) {
        return absl::InvalidArgumentError(absl::StrCat("input ", i, " has token id ", id, ", not a vocabulary id"));
      }
    }
    Add(out, RowRequest(
                 model, ids.size(), [&](size_t k) { return ids[k]; }, [](size_t) -> int64_t { return 0; }));
  }
  return out;
}

}  // namespace

absl::StatusOr<EncodedTexts> EncodeTexts(const TextModel& model, const TextInput& input, const TextOptions& options) {
  if (!input.token_ids.empty()) return EncodeIds(model, input);
  const bool paired = !input.pairs.empty();
  if (paired && input.pairs.size() != input.texts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(input.texts.size(), " texts but ", input.pairs.size(), " text_pairs; send one pair per text"));
  }
  if (paired && model.task == TextTask::kEmbedding) {
    return absl::InvalidArgumentError("this model embeds single texts; it takes no text_pair");
  }
  if (!paired && model.task == TextTask::kRerank) {
    return absl::InvalidArgumentError("this model is a cross-encoder: it scores (text, text_pair) pairs");
  }
  tokenizer::Truncation truncation;
  truncation.max_length = options.truncate ? static_cast<size_t>(model.max_length) : 0;
  truncation.side = options.side;
  EncodedTexts out;
  out.rows.reserve(input.texts.size());
  out.tokens.reserve(input.texts.size());
  tokenizer::Encoding encoding;
  std::string prompted;
  for (size_t i = 0; i < input.texts.size(); ++i) {
    absl::string_view text = input.texts[i];
    if (!options.prompt.empty()) {
      prompted.assign(options.prompt).append(text.data(), text.size());
      text = prompted;
    }
    std::optional<absl::string_view> pair;
    if (paired) pair = input.pairs[i];
    if (absl::Status encoded = model.tokenizer->Encode(text, pair, truncation, encoding); !encoded.ok()) {
      return absl::Status(encoded.code(), absl::StrCat("input ", i, ": ", encoded.message()));
    }
    const size_t n = encoding.ids.size();
    if (static_cast<int64_t>(n) > model.max_length) return TooLong(i, static_cast<int64_t>(n), model.max_length);
    if (n == 0) return absl::InvalidArgumentError(absl::StrCat("input ", i, " tokenizes to no tokens"));
    Add(out, RowRequest(
                 model, n, [&](size_t k) -> int64_t { return encoding.ids[k]; },
                 [&](size_t k) -> int64_t { return encoding.type_ids[k]; }));
  }
  return out;
}

}  // namespace seqserve
