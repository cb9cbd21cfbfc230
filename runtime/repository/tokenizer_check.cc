#include "runtime/repository/tokenizer_check.h"

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/config/model_manifest.h"

namespace seqserve {
namespace {

absl::Status Failed(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat("tokenizer check: ", what));
}

// "[101, 7592, ...]" of at most 12 ids, for messages.
template <typename Ids>
std::string Shown(const Ids& ids) {
  std::vector<int64_t> head(ids.begin(), ids.begin() + std::min<ptrdiff_t>(12, std::distance(ids.begin(), ids.end())));
  return absl::StrCat("[", absl::StrJoin(head, ", "), head.size() < static_cast<size_t>(ids.size()) ? ", ...]" : "]");
}

// At most `bytes` bytes of `text`, not cutting a UTF-8 sequence.
absl::string_view Prefix(absl::string_view text, size_t bytes) {
  if (text.size() <= bytes) return text;
  while (bytes > 0 && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80) --bytes;
  return text.substr(0, bytes);
}

template <typename A, typename B>
bool Equal(const A& a, const B& b) {
  return static_cast<size_t>(a.size()) == static_cast<size_t>(b.size()) && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const tokenizer::Tokenizer>> LoadCheckedTokenizer(const v1::ModelManifest& manifest,
                                                                                 const std::string& version_dir) {
  if (!manifest.has_tokenizer()) return std::shared_ptr<const tokenizer::Tokenizer>();
  const v1::TokenizerManifest& packed = manifest.tokenizer();
  if (packed.file().empty() || packed.file().find('/') != std::string::npos) {
    return Failed("the manifest's tokenizer.file must name a file in the version directory");
  }
  const std::string path = (std::filesystem::path(version_dir) / packed.file()).string();
  absl::StatusOr<std::string> digest = Sha256OfFile(path);
  if (!digest.ok()) return Failed(digest.status().message());
  if (*digest != packed.sha256()) {
    return Failed(absl::StrCat(packed.file(), " has SHA-256 ", *digest, " but was packed with ", packed.sha256(),
                               "; repack the model (scripts/seqserve-pack) rather than edit its files"));
  }
  absl::StatusOr<std::unique_ptr<const tokenizer::Tokenizer>> loaded = tokenizer::Tokenizer::FromFile(path);
  if (!loaded.ok()) return Failed(loaded.status().message());
  const tokenizer::Tokenizer& tokenizer = **loaded;
  if (tokenizer.family() != packed.family()) {
    return Failed(
        absl::StrCat(packed.file(), " is a ", tokenizer.family(), " tokenizer; the manifest says ", packed.family()));
  }
  if (packed.max_length() <= 0) return Failed("the manifest's tokenizer.max_length must be positive");
  tokenizer::Truncation truncation;
  truncation.max_length = static_cast<size_t>(packed.max_length());
  tokenizer::Encoding encoding;
  for (int i = 0; i < packed.references_size(); ++i) {
    const v1::TokenizerReference& reference = packed.references(i);
    std::optional<absl::string_view> pair;
    if (reference.has_text_pair()) pair = reference.text_pair();
    absl::Status encoded = tokenizer.Encode(reference.text(), pair, truncation, encoding);
    const std::string which = absl::StrCat("reference ", i, " (\"", Prefix(reference.text(), 40), "\")");
    if (!encoded.ok()) return Failed(absl::StrCat(which, " fails to tokenize: ", encoded.message()));
    if (!Equal(encoding.ids, reference.ids()) || !Equal(encoding.type_ids, reference.type_ids())) {
      return Failed(absl::StrCat(which, " tokenizes to ", Shown(encoding.ids), " (types ", Shown(encoding.type_ids),
                                 ") where Hugging Face tokenizers ", packed.tokenizers_version(), " gave ",
                                 Shown(reference.ids()), " (types ", Shown(reference.type_ids()),
                                 "); this server cannot tokenize for the model exactly"));
    }
  }
  return std::shared_ptr<const tokenizer::Tokenizer>(std::move(*loaded));
}

}  // namespace seqserve
