// manifest.json of a prepared token folder (written by `cream data prepare`).
//
// Folder layout (format_version 1):
//   manifest.json
//   tokens-00000.bin ...  token ids, little-endian uint16 (vocab <= 65536) or uint32,
//                         documents concatenated; a shard holds at most
//                         max_shard_tokens tokens, so a document may continue
//                         from one shard into the next.
//   index-00000.bin ...   little-endian uint64 offsets, local to the shard, of every
//                         document that STARTS in that shard (strictly increasing).
// Documents are numbered in input order; each begins with the tokenizer's BOS id
// (and ends with EOS when prepared with --eos).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cream::data {

inline constexpr int kManifestFormatVersion = 1;
inline constexpr const char* kManifestFileName = "manifest.json";

enum class TokenDtype { kUint16, kUint32 };

// uint16 whenever every id fits (vocabulary <= 65536), else uint32.
TokenDtype dtype_for_vocab(int64_t vocab_size);
size_t dtype_bytes(TokenDtype dtype);
std::string dtype_name(TokenDtype dtype);

struct ShardInfo {
  std::string tokens_file;  // relative to the folder
  std::string index_file;
  uint64_t tokens = 0;
  uint64_t bytes = 0;        // tokens * dtype bytes
  uint64_t documents = 0;    // documents starting in this shard (= index entries)
};

struct InputInfo {
  std::string path;
  std::string format;        // "jsonl" or "text"
  uint64_t documents = 0;    // documents written
  uint64_t tokens = 0;       // tokens written (BOS/EOS included)
  uint64_t empty_documents = 0;  // empty text / input_ids: not written
  uint64_t blank_lines = 0;      // whitespace-only JSONL lines: ignored
};

struct Manifest {
  int format_version = kManifestFormatVersion;
  std::string tokenizer_path;     // as given at prepare time (informational)
  std::string tokenizer_sha256;
  int64_t vocab_size = 0;
  int64_t bos_id = -1;
  int64_t eos_id = -1;
  bool eos_appended = false;
  TokenDtype dtype = TokenDtype::kUint16;
  uint64_t max_shard_tokens = 0;
  uint64_t documents = 0;
  uint64_t tokens = 0;
  uint64_t empty_documents = 0;
  uint64_t blank_lines = 0;
  std::string text_field = "text";
  std::vector<ShardInfo> shards;
  std::vector<InputInfo> inputs;
};

nlohmann::json manifest_to_json(const Manifest& manifest);
// Parses and checks types and internal consistency (totals equal shard sums);
// errors name `source` (the manifest path) and the offending key.
Manifest manifest_from_json(const nlohmann::json& json, const std::string& source);
Manifest read_manifest(const std::filesystem::path& folder);

}  // namespace cream::data
