#include "runtime/tokenizer/tokenizer.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "runtime/tokenizer/buffers.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

// The pipeline's own buffers (Note [tokenizer buffers] in buffers.h).
struct Buffers {
  std::string normalized, scratch;
  std::vector<AddedTokens::Segment> raw_segments, normalized_segments;
  Words whole, words;
  std::vector<int32_t> a, b;

  void ReleaseLarge() {
    ReleaseIfLarge(normalized);
    ReleaseIfLarge(scratch);
    ReleaseIfLarge(raw_segments);
    ReleaseIfLarge(normalized_segments);
    for (Words* buffer : {&whole, &words}) {
      ReleaseIfLarge(buffer->text);
      ReleaseIfLarge(buffer->spans);
    }
    ReleaseIfLarge(a);
    ReleaseIfLarge(b);
  }
};

Buffers& ThreadBuffers() {
  thread_local Buffers buffers;
  return buffers;
}

absl::StatusOr<Truncation> ParseTruncation(const Json* json) {
  Truncation truncation;
  if (json == nullptr) return truncation;
  const int64_t max_length = GetInt(*json, "max_length", 0);
  truncation.max_length = static_cast<size_t>(std::max<int64_t>(max_length, 0));
  const std::string strategy = GetStringOr(*json, "strategy", std::string("LongestFirst"));
  if (strategy == "OnlyFirst") {
    truncation.strategy = Truncation::Strategy::kOnlyFirst;
  } else if (strategy == "OnlySecond") {
    truncation.strategy = Truncation::Strategy::kOnlySecond;
  } else if (strategy != "LongestFirst") {
    return JsonError("truncation", "has an unknown strategy '" + strategy + "'");
  }
  truncation.side = GetStringOr(*json, "direction", std::string("Right")) == "Left" ? Truncation::Side::kLeft
                                                                                    : Truncation::Side::kRight;
  return truncation;
}

void Cut(std::vector<int32_t>& ids, size_t keep, Truncation::Side side) {
  if (ids.size() <= keep) return;
  if (side == Truncation::Side::kLeft) ids.erase(ids.begin(), ids.end() - static_cast<ptrdiff_t>(keep));
  ids.resize(keep);
}

// `tokenizers`' truncate_encodings, with `limit` already net of the special tokens.
absl::Status Truncate(std::vector<int32_t>& a, std::vector<int32_t>* b, size_t limit, const Truncation& how) {
  const size_t total = a.size() + (b != nullptr ? b->size() : 0);
  if (total <= limit) return absl::OkStatus();
  if (limit == 0) {  // only special tokens fit: every strategy empties both texts
    a.clear();
    if (b != nullptr) b->clear();
    return absl::OkStatus();
  }
  if (how.strategy == Truncation::Strategy::kLongestFirst) {
    if (b == nullptr) {
      Cut(a, limit, how.side);
      return absl::OkStatus();
    }
    size_t n1 = a.size(), n2 = b->size();
    const bool swapped = n1 > n2;
    if (swapped) std::swap(n1, n2);
    n2 = n1 > limit ? n1 : std::max(n1, limit - n1);
    if (n1 + n2 > limit) {
      n1 = limit / 2;
      n2 = n1 + limit % 2;
    }
    if (swapped) std::swap(n1, n2);
    Cut(a, n1, how.side);
    Cut(*b, n2, how.side);
    return absl::OkStatus();
  }
  std::vector<int32_t>* target = how.strategy == Truncation::Strategy::kOnlyFirst ? &a : b;
  if (target == nullptr) return absl::InvalidArgumentError("truncation OnlySecond needs a text_pair");
  const size_t remove = total - limit;
  if (target->size() <= remove) {
    return absl::InvalidArgumentError(
        "the sequence truncation may cut is too short to bring the pair within max_length tokens");
  }
  Cut(*target, target->size() - remove, how.side);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<const Tokenizer>> Tokenizer::FromJson(absl::string_view json) {
  rapidjson::Document document;
  // Every string of the file is checked to be UTF-8 (added tokens, Prepend and Replace contents
  // end up inside the text, which the pipeline reads without further checks).
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json is not valid JSON (",
                                                   rapidjson::GetParseError_En(document.GetParseError()), " at byte ",
                                                   document.GetErrorOffset(), ")"));
  }
  if (!document.IsObject()) return absl::InvalidArgumentError("tokenizer.json is not a JSON object");
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  absl::StatusOr<std::unique_ptr<const Normalizer>> normalizer = MakeNormalizer(Member(document, "normalizer"));
  if (!normalizer.ok()) return normalizer.status();
  tokenizer->normalizer_ = std::move(*normalizer);
  absl::StatusOr<std::unique_ptr<const PreTokenizer>> pre_tokenizer =
      MakePreTokenizer(Member(document, "pre_tokenizer"));
  if (!pre_tokenizer.ok()) return pre_tokenizer.status();
  tokenizer->pre_tokenizer_ = std::move(*pre_tokenizer);
  const Json* model = Member(document, "model");
  if (model == nullptr) return absl::InvalidArgumentError("tokenizer.json has no model");
  absl::StatusOr<std::unique_ptr<const Model>> made = MakeModel(*model);
  if (!made.ok()) return made.status();
  tokenizer->model_ = std::move(*made);
  absl::StatusOr<AddedTokens> added =
      AddedTokens::FromJson(Member(document, "added_tokens"), tokenizer->normalizer_.get());
  if (!added.ok()) return added.status();
  tokenizer->added_ = std::move(*added);
  absl::StatusOr<Template> post = Template::FromJson(Member(document, "post_processor"));
  if (!post.ok()) return post.status();
  tokenizer->template_ = std::move(*post);
  absl::StatusOr<Truncation> truncation = ParseTruncation(Member(document, "truncation"));
  if (!truncation.ok()) return truncation.status();
  tokenizer->file_truncation_ = *truncation;
  return std::unique_ptr<const Tokenizer>(std::move(tokenizer));
}

absl::StatusOr<std::unique_ptr<const Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read the tokenizer file ", path));
  std::ostringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = FromJson(contents.str());
  if (!tokenizer.ok())
    return absl::Status(tokenizer.status().code(), absl::StrCat(path, ": ", tokenizer.status().message()));
  return tokenizer;
}

absl::Status Tokenizer::EncodeSequence(absl::string_view text, std::vector<int32_t>& ids) const {
  Buffers& buffers = ThreadBuffers();
  ids.clear();
  std::vector<AddedTokens::Segment>& raw = buffers.raw_segments;
  added_.Split(text, /*normalized=*/false, raw);
  for (const AddedTokens::Segment& segment : raw) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    std::string& normalized = buffers.normalized;
    normalized.assign(text.data() + segment.begin, segment.end - segment.begin);
    if (normalizer_) {
      absl::Status done = normalizer_->Normalize(normalized, buffers.scratch);
      if (!done.ok()) return done;
    }
    added_.Split(normalized, /*normalized=*/true, buffers.normalized_segments);
    for (const AddedTokens::Segment& piece : buffers.normalized_segments) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      Words& whole = buffers.whole;
      whole.text.assign(normalized, piece.begin, piece.end - piece.begin);
      whole.spans.assign(1, {0, static_cast<uint32_t>(whole.text.size())});
      const Words* words = &whole;
      if (pre_tokenizer_) {
        absl::Status split =
            pre_tokenizer_->Split(whole, /*at_start=*/segment.begin == 0 && piece.begin == 0, buffers.words);
        if (!split.ok()) return split;
        words = &buffers.words;
      }
      for (size_t w = 0; w < words->spans.size(); ++w) {
        absl::Status tokenized = model_->Tokenize(words->word(w), ids);
        if (!tokenized.ok()) return tokenized;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Tokenizer::Encode(absl::string_view text, std::optional<absl::string_view> pair,
                               const Truncation& truncation, Encoding& out) const {
  const std::pair<const char*, size_t> sizes[] = {{"text", text.size()}, {"text_pair", pair ? pair->size() : 0}};
  for (const auto& [name, size] : sizes) {
    if (size > kMaxTextBytes) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is ", size, " bytes; the tokenizer takes at most ",
                                                     kMaxTextBytes, " bytes (1 MiB) per text"));
    }
  }
  absl::Status valid = ValidateUtf8(text);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("text: ", valid.message()));
  if (pair.has_value()) {
    valid = ValidateUtf8(*pair);
    if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat("text_pair: ", valid.message()));
  }
  Buffers& buffers = ThreadBuffers();
  absl::Status encoded = EncodeSequence(text, buffers.a);
  if (!encoded.ok()) return encoded;
  if (pair.has_value()) {
    encoded = EncodeSequence(*pair, buffers.b);
    if (!encoded.ok()) return encoded;
  }
  std::vector<int32_t>* b = pair.has_value() ? &buffers.b : nullptr;
  if (truncation.max_length > 0) {
    const size_t added = template_.SpecialTokenCount(pair.has_value());
    if (truncation.max_length < added) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_length ", truncation.max_length, " leaves no room for the ", added, " special tokens"));
    }
    absl::Status truncated = Truncate(buffers.a, b, truncation.max_length - added, truncation);
    if (!truncated.ok()) return truncated;
  }
  template_.Apply(buffers.a, b, out);
  buffers.ReleaseLarge();
  return absl::OkStatus();
}

}  // namespace seqserve::tokenizer
