#include "cream/data/token_dataset.h"

#include <algorithm>
#include <cstring>

#include "cream/util/error.h"

namespace cream::data {

TokenDataset::TokenDataset(const std::filesystem::path& folder) : folder_(folder), manifest_(read_manifest(folder)) {
  map_and_validate_shards();
}

void TokenDataset::map_and_validate_shards() {
  uint64_t shard_start = 0;
  doc_starts_.reserve(manifest_.documents);
  for (const auto& shard : manifest_.shards) {
    const auto tokens_path = folder_ / shard.tokens_file;
    const auto index_path = folder_ / shard.index_file;
    CREAM_CHECK(std::filesystem::is_regular_file(tokens_path), tokens_path.string() + ": shard file missing");
    CREAM_CHECK(std::filesystem::is_regular_file(index_path), index_path.string() + ": index file missing");
    CREAM_CHECK(shard.tokens > 0, tokens_path.string() + ": manifest lists an empty shard");
    MappedFile tokens(tokens_path);
    CREAM_CHECK(tokens.size() == shard.bytes,
                tokens_path.string() + ": size " + std::to_string(tokens.size()) + " bytes, manifest says " +
                    std::to_string(shard.bytes) + " (truncated or modified shard)");
    const MappedFile index(index_path);
    CREAM_CHECK(index.size() == shard.documents * sizeof(uint64_t),
                index_path.string() + ": size " + std::to_string(index.size()) + " bytes, manifest says " +
                    std::to_string(shard.documents) + " documents x 8 bytes");
    uint64_t previous = 0;
    for (uint64_t i = 0; i < shard.documents; ++i) {
      uint64_t local = 0;
      std::memcpy(&local, index.data() + i * sizeof(uint64_t), sizeof(local));
      CREAM_CHECK(local < shard.tokens && (i == 0 || local > previous),
                  index_path.string() + ": document offset " + std::to_string(i) + " is out of order or out of range");
      CREAM_CHECK(!(shard_start == 0 && i == 0 && local != 0),
                  index_path.string() + ": the first document must start at offset 0");
      doc_starts_.push_back(shard_start + local);
      previous = local;
    }
    token_maps_.push_back(std::move(tokens));
    shard_starts_.push_back(shard_start);
    shard_start += shard.tokens;
  }
  CREAM_CHECK(doc_starts_.size() == manifest_.documents,
              (folder_ / kManifestFileName).string() + ": document count does not match the index files");
}

uint64_t TokenDataset::document_length(uint64_t doc) const {
  CREAM_CHECK(doc < doc_starts_.size(), "document " + std::to_string(doc) + " out of range");
  const uint64_t end = doc + 1 < doc_starts_.size() ? doc_starts_[doc + 1] : manifest_.tokens;
  return end - doc_starts_[doc];
}

std::vector<int32_t> TokenDataset::document(uint64_t doc) const {
  std::vector<int32_t> out(document_length(doc));
  read_tokens(doc_starts_[doc], out.size(), out.data());
  return out;
}

void TokenDataset::read_tokens(uint64_t offset, uint64_t count, int32_t* out) const {
  CREAM_CHECK(offset + count <= manifest_.tokens, folder_.string() + ": token range past the end of the data");
  // The shard holding `offset`: the last one starting at or before it.
  size_t shard = static_cast<size_t>(std::upper_bound(shard_starts_.begin(), shard_starts_.end(), offset) -
                                     shard_starts_.begin()) - 1;
  while (count > 0) {
    const uint64_t local = offset - shard_starts_[shard];
    const uint64_t take = std::min(count, manifest_.shards[shard].tokens - local);
    const uint8_t* base = token_maps_[shard].data();
    if (manifest_.dtype == TokenDtype::kUint16) {
      const auto* src = reinterpret_cast<const uint16_t*>(base) + local;
      for (uint64_t i = 0; i < take; ++i) out[i] = src[i];
    } else {
      std::memcpy(out, reinterpret_cast<const uint32_t*>(base) + local, take * sizeof(int32_t));
    }
    out += take;
    offset += take;
    count -= take;
    ++shard;
  }
}

void TokenDataset::check_compatible(const std::string& tokenizer_sha256, int64_t model_vocab_size) const {
  const std::string where = (folder_ / kManifestFileName).string();
  CREAM_CHECK(tokenizer_sha256 == manifest_.tokenizer_sha256,
              where + ": prepared with a different tokenizer (sha256 " + manifest_.tokenizer_sha256 +
                  ") than the model's (sha256 " + tokenizer_sha256 + ")");
  CREAM_CHECK(manifest_.vocab_size <= model_vocab_size,
              where + ": tokenizer vocabulary (" + std::to_string(manifest_.vocab_size) +
                  ") is larger than the model's vocab_size (" + std::to_string(model_vocab_size) + ")");
}

}  // namespace cream::data
