// SentencePiece's Unigram model as `tokenizers` runs it: the most probable segmentation of the
// word (Viterbi over every vocabulary piece that starts at each character, scores summed), where a
// character no piece starts with costs the lowest piece score minus 10; runs of unknown
// characters fuse into one unknown token, or become their bytes' <0xNN> tokens (byte_fallback).
// Ties keep the earlier, shorter candidate, as `tokenizers`' trie order does.
#include <cstdio>
#include <limits>
#include <utility>

#include "runtime/tokenizer/buffers.h"
#include "runtime/tokenizer/model.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

// Note [Unigram unknown penalty]: `tokenizers` (and SentencePiece) score an unknown character
// at the vocabulary's lowest score minus 10.
constexpr double kUnknownPenalty = 10.0;

struct Piece {
  int32_t id;
  double score;
};

class Unigram final : public Model {
 public:
  Unigram(absl::flat_hash_map<std::string, Piece> pieces, std::optional<int32_t> unknown, bool byte_fallback,
          size_t longest_piece, double unknown_score)
      : pieces_(std::move(pieces)),
        unknown_(unknown),
        byte_fallback_(byte_fallback),
        longest_piece_(longest_piece),
        unknown_score_(unknown_score) {}

  absl::Status Tokenize(absl::string_view word, std::vector<int32_t>& ids) const override {
    if (word.empty()) return absl::OkStatus();
    // best[i]: the best segmentation of word[0, i): its score, where its last token starts, and
    // that token's id (-1: unknown).
    struct Node {
      double score;
      int64_t start;  // -1: not reached
      int32_t id;
    };
    thread_local std::vector<Node> best;
    best.assign(word.size() + 1, Node{0.0, -1, -1});
    best[0].start = 0;
    for (size_t start = 0; start < word.size();) {
      const size_t char_length = Utf8Length(static_cast<unsigned char>(word[start]));
      const double here = best[start].score;
      bool single_char_piece = false;
      for (size_t end = start + char_length; end <= word.size() && end - start <= longest_piece_;) {
        auto it = pieces_.find(word.substr(start, end - start));
        if (it != pieces_.end()) {
          const double candidate = here + it->second.score;
          if (best[end].start < 0 || candidate > best[end].score)
            best[end] = {candidate, static_cast<int64_t>(start), it->second.id};
          single_char_piece = single_char_piece || end - start == char_length;
        }
        if (end == word.size()) break;
        end += Utf8Length(static_cast<unsigned char>(word[end]));
      }
      if (!single_char_piece) {
        if (!unknown_.has_value()) {
          return absl::InvalidArgumentError("the Unigram model has no unknown token for a character it cannot cover");
        }
        Node& target = best[start + char_length];
        const double candidate = here + unknown_score_;
        if (target.start < 0 || candidate > target.score) target = {candidate, static_cast<int64_t>(start), -1};
      }
      start += char_length;
    }
    // Back from the end, then reversed; consecutive unknown tokens fuse into one.
    thread_local std::vector<std::pair<size_t, int32_t>> path;  // (start, id) of each token, last first
    path.clear();
    for (size_t end = word.size(); end > 0;) {
      const Node& node = best[end];
      const bool unknown = node.id < 0 || (unknown_.has_value() && node.id == *unknown_);
      if (unknown && !path.empty() && path.back().second == -1) {
        path.back().first = static_cast<size_t>(node.start);  // extend the fused unknown leftwards
      } else {
        path.push_back({static_cast<size_t>(node.start), unknown ? -1 : node.id});
      }
      end = static_cast<size_t>(node.start);
    }
    size_t end = word.size();
    thread_local std::vector<int32_t> reversed;
    reversed.clear();
    for (const auto& [start, id] : path) {
      if (id >= 0) {
        reversed.push_back(id);
      } else {
        AppendUnknown(word.substr(start, end - start), reversed);
      }
      end = start;
    }
    ids.insert(ids.end(), reversed.rbegin(), reversed.rend());
    ReleaseIfLarge(best);
    ReleaseIfLarge(path);
    ReleaseIfLarge(reversed);
    return absl::OkStatus();
  }

  std::optional<int32_t> IdOf(absl::string_view token) const override {
    auto it = pieces_.find(token);
    return it == pieces_.end() ? std::nullopt : std::optional<int32_t>(it->second.id);
  }

  absl::string_view family() const override { return "Unigram"; }

 private:
  // An unknown span: its bytes' <0xNN> tokens when byte_fallback and all exist, else the unknown
  // token. Appended in reverse, as the caller's list is.
  void AppendUnknown(absl::string_view span, std::vector<int32_t>& reversed) const {
    if (auto known = IdOf(span)) {  // a fused run can spell a piece; `tokenizers` looks it up
      reversed.push_back(*known);
      return;
    }
    if (byte_fallback_) {
      const size_t mark = reversed.size();
      bool all = true;
      for (auto byte = span.rbegin(); byte != span.rend() && all; ++byte) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(*byte));
        auto id = IdOf(name);
        if (id.has_value()) {
          reversed.push_back(*id);
        } else {
          all = false;
        }
      }
      if (all) return;
      reversed.resize(mark);
    }
    reversed.push_back(*unknown_);
  }

  const absl::flat_hash_map<std::string, Piece> pieces_;
  const std::optional<int32_t> unknown_;
  const bool byte_fallback_;
  const size_t longest_piece_;
  const double unknown_score_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const Model>> MakeUnigram(const Json& json) {
  constexpr char kWhere[] = "model Unigram";
  const Json* vocab = Member(json, "vocab");
  if (vocab == nullptr || !vocab->IsArray()) return JsonError(kWhere, "needs the array 'vocab'");
  absl::flat_hash_map<std::string, Piece> pieces;
  pieces.reserve(vocab->Size());
  size_t longest = 0;
  double lowest = std::numeric_limits<double>::infinity();
  int32_t id = 0;
  for (const Json& entry : vocab->GetArray()) {
    if (!entry.IsArray() || entry.Size() != 2 || !entry[0].IsString() || !entry[1].IsNumber()) {
      return JsonError(kWhere, "has a vocab entry that is not [piece, score]");
    }
    const absl::string_view piece = StringOf(entry[0]);
    const double score = entry[1].GetDouble();
    lowest = std::min(lowest, score);
    longest = std::max(longest, piece.size());
    pieces.try_emplace(std::string(piece), Piece{id, score});
    ++id;
  }
  std::optional<int32_t> unknown;
  if (const Json* unk = Member(json, "unk_id"); unk != nullptr) {
    if (!unk->IsInt() || unk->GetInt() < 0 || unk->GetInt() >= id)
      return JsonError(kWhere, "has an unk_id outside its vocab");
    unknown = unk->GetInt();
  }
  if (id == 0) lowest = 0;
  return std::make_unique<Unigram>(std::move(pieces), unknown, GetBool(json, "byte_fallback", false), longest,
                                   lowest - kUnknownPenalty);
}

}  // namespace seqserve::tokenizer
