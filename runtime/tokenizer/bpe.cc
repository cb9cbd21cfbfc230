// Byte-pair encoding as `tokenizers` applies it: the word starts as its characters (the
// continuing-subword prefix on all but the first, the end-of-word suffix on the last); a
// character outside the vocabulary becomes its bytes' <0xNN> tokens (byte_fallback), the unknown
// token (consecutive ones fused into one when fuse_unk), or is dropped when there is no unknown
// token. Then the lowest-ranked merge among adjacent pairs is applied, leftmost first among
// equals, until none applies.
//
// Note [BPE merge queue]: merges come off a min-heap of (rank, position) and are re-checked when
// popped, so a word of n characters costs O(n log n): a 1 MB word without spaces is seconds, not
// the hours of rescanning every pair after each merge.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

#include "absl/strings/str_split.h"
#include "runtime/tokenizer/buffers.h"
#include "runtime/tokenizer/model.h"
#include "runtime/tokenizer/unicode.h"

namespace seqserve::tokenizer {
namespace {

struct Merge {
  int32_t rank;
  int32_t result;
};

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

class Bpe final : public Model {
 public:
  struct Options {
    std::optional<int32_t> unknown;
    std::string prefix, suffix;
    bool fuse_unknown = false, byte_fallback = false, ignore_merges = false;
  };

  Bpe(Vocabulary vocabulary, absl::flat_hash_map<uint64_t, Merge> merges, Options options)
      : vocabulary_(std::move(vocabulary)), merges_(std::move(merges)), options_(std::move(options)) {}

  absl::Status Tokenize(absl::string_view word, std::vector<int32_t>& ids) const override {
    if (options_.ignore_merges) {
      if (auto whole = IdOf(word)) {
        ids.push_back(*whole);
        return absl::OkStatus();
      }
    }
    thread_local std::vector<Symbol> symbols;
    thread_local std::string piece;
    symbols.clear();
    bool previous_unknown = false;
    for (size_t i = 0; i < word.size();) {
      const size_t begin = i;
      i += Utf8Length(static_cast<unsigned char>(word[i]));
      piece.clear();
      if (begin > 0) piece += options_.prefix;
      piece.append(word.data() + begin, i - begin);
      if (i == word.size()) piece += options_.suffix;
      if (auto id = IdOf(piece)) {
        symbols.push_back({*id});
        previous_unknown = false;
        continue;
      }
      // `tokenizers` falls back on the bytes of the piece as looked up, prefix and suffix included.
      if (options_.byte_fallback && AppendBytes(piece, symbols)) {
        previous_unknown = false;
        continue;
      }
      if (!options_.unknown.has_value()) continue;  // dropped, as `tokenizers` does
      if (!(options_.fuse_unknown && previous_unknown)) symbols.push_back({*options_.unknown});
      previous_unknown = true;
    }
    MergeAll(symbols);
    for (const Symbol& symbol : symbols) {
      if (!symbol.removed) ids.push_back(symbol.id);
    }
    ReleaseIfLarge(symbols);
    return absl::OkStatus();
  }

  std::optional<int32_t> IdOf(absl::string_view token) const override { return Find(vocabulary_, token); }

  absl::string_view family() const override { return "BPE"; }

 private:
  struct Symbol {
    int32_t id;
    int32_t previous = -1, next = -1;
    bool removed = false;
  };
  struct Candidate {
    int32_t rank, position;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };

  // The <0xNN> tokens of a character's bytes, when the vocabulary has all of them.
  bool AppendBytes(absl::string_view character, std::vector<Symbol>& symbols) const {
    thread_local std::vector<int32_t> bytes;
    bytes.clear();
    for (char byte : character) {
      char name[8];
      std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(byte));
      auto id = IdOf(name);
      if (!id.has_value()) return false;
      bytes.push_back(*id);
    }
    for (int32_t id : bytes) symbols.push_back({id});
    return true;
  }

  void MergeAll(std::vector<Symbol>& symbols) const {
    const int32_t n = static_cast<int32_t>(symbols.size());
    for (int32_t i = 0; i < n; ++i) {
      symbols[i].previous = i - 1;
      symbols[i].next = i + 1 < n ? i + 1 : -1;
    }
    // A min-heap on a per-thread vector (std::push_heap with std::greater), reused across words.
    thread_local std::vector<Candidate> queue;
    queue.clear();
    auto consider = [&](int32_t left) {
      if (left < 0 || symbols[left].next < 0) return;
      auto it = merges_.find(PairKey(symbols[left].id, symbols[symbols[left].next].id));
      if (it == merges_.end()) return;
      queue.push_back({it->second.rank, left});
      std::push_heap(queue.begin(), queue.end(), std::greater<Candidate>());
    };
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);
    while (!queue.empty()) {
      std::pop_heap(queue.begin(), queue.end(), std::greater<Candidate>());
      const Candidate top = queue.back();
      queue.pop_back();
      Symbol& left = symbols[top.position];
      if (left.removed || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      auto it = merges_.find(PairKey(left.id, right.id));
      if (it == merges_.end() || it->second.rank != top.rank) continue;  // stale: a neighbour merged since
      left.id = it->second.result;
      right.removed = true;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].previous = top.position;
      consider(left.previous);
      consider(top.position);
    }
    ReleaseIfLarge(queue);
  }

  const Vocabulary vocabulary_;
  const absl::flat_hash_map<uint64_t, Merge> merges_;
  const Options options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const Model>> MakeBpe(const Json& json) {
  constexpr char kWhere[] = "model BPE";
  if (const Json* dropout = Member(json, "dropout");
      dropout != nullptr && dropout->IsNumber() && dropout->GetDouble() > 0) {
    return Unsupported("BPE option", "dropout", "BPE without dropout: serving must be deterministic");
  }
  const Json* vocab = Member(json, "vocab");
  const Json* merges = Member(json, "merges");
  if (vocab == nullptr || !vocab->IsObject()) return JsonError(kWhere, "needs the object 'vocab'");
  if (merges == nullptr || !merges->IsArray()) return JsonError(kWhere, "needs the array 'merges'");
  Vocabulary vocabulary;
  vocabulary.reserve(vocab->MemberCount());
  for (const auto& entry : vocab->GetObject()) {
    if (!entry.value.IsInt()) return JsonError(kWhere, "has a vocab entry whose id is not an integer");
    vocabulary.insert_or_assign(std::string(StringOf(entry.name)), entry.value.GetInt());
  }
  Bpe::Options options;
  options.prefix = GetStringOr(json, "continuing_subword_prefix", std::string());
  options.suffix = GetStringOr(json, "end_of_word_suffix", std::string());
  options.fuse_unknown = GetBool(json, "fuse_unk", false);
  options.byte_fallback = GetBool(json, "byte_fallback", false);
  options.ignore_merges = GetBool(json, "ignore_merges", false);
  if (const Json* unknown = Member(json, "unk_token"); unknown != nullptr && unknown->IsString()) {
    auto it = vocabulary.find(StringOf(*unknown));
    if (it == vocabulary.end()) return JsonError(kWhere, "has an unk_token not in its vocab");
    options.unknown = it->second;
  }
  // Merges are "left right" strings (files before `tokenizers` 0.20) or [left, right] pairs.
  absl::flat_hash_map<uint64_t, Merge> merge_table;
  merge_table.reserve(merges->Size());
  int32_t rank = 0;
  for (const Json& merge : merges->GetArray()) {
    std::string left, right;
    if (merge.IsString()) {
      std::pair<std::string, std::string> parts = absl::StrSplit(StringOf(merge), absl::MaxSplits(' ', 1));
      left = std::move(parts.first);
      right = std::move(parts.second);
    } else if (merge.IsArray() && merge.Size() == 2 && merge[0].IsString() && merge[1].IsString()) {
      left = std::string(StringOf(merge[0]));
      right = std::string(StringOf(merge[1]));
    } else {
      return JsonError(kWhere, "has a merge that is neither \"a b\" nor [\"a\", \"b\"]");
    }
    auto l = vocabulary.find(left), r = vocabulary.find(right);
    std::string joined = left;
    // The merged token drops the right part's continuing-subword prefix.
    const bool prefixed = !options.prefix.empty() && right.compare(0, options.prefix.size(), options.prefix) == 0;
    joined.append(right, prefixed ? options.prefix.size() : 0, std::string::npos);
    auto result = vocabulary.find(joined);
    if (l == vocabulary.end() || r == vocabulary.end() || result == vocabulary.end()) {
      return JsonError(kWhere, "has the merge '" + left + " " + right + "' of tokens not in its vocab");
    }
    merge_table.insert_or_assign(PairKey(l->second, r->second),
                                 Merge{rank, result->second});  // last wins, as in `tokenizers`
    ++rank;
  }
  return std::make_unique<Bpe>(std::move(vocabulary), std::move(merge_table), std::move(options));
}

}  // namespace seqserve::tokenizer
