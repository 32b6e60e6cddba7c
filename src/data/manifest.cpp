#include "cream/data/manifest.h"

#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::data {
namespace {

using nlohmann::json;

// Reads `object[key]` as T; a missing key or a wrong type is one clear error.
template <typename T>
T get_field(const json& object, const std::string& key, const std::string& where) {
  CREAM_CHECK(object.is_object() && object.contains(key), where + ": missing key '" + key + "'");
  const json& value = object.at(key);
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>) ok = value.is_string();
  else if constexpr (std::is_same_v<T, bool>) ok = value.is_boolean();
  else if constexpr (std::is_unsigned_v<T>) ok = value.is_number_unsigned();
  else ok = value.is_number_integer();
  CREAM_CHECK(ok, where + ": key '" + key + "' has the wrong type");
  return value.get<T>();
}

TokenDtype parse_dtype(const std::string& name, const std::string& where) {
  if (name == "uint16") return TokenDtype::kUint16;
  if (name == "uint32") return TokenDtype::kUint32;
  throw Error(where + ": unknown dtype '" + name + "' (expected uint16 or uint32)");
}

}  // namespace

TokenDtype dtype_for_vocab(int64_t vocab_size) {
  return vocab_size <= 65536 ? TokenDtype::kUint16 : TokenDtype::kUint32;
}

size_t dtype_bytes(TokenDtype dtype) { return dtype == TokenDtype::kUint16 ? 2 : 4; }

std::string dtype_name(TokenDtype dtype) { return dtype == TokenDtype::kUint16 ? "uint16" : "uint32"; }

json manifest_to_json(const Manifest& m) {
  json shards = json::array();
  for (const auto& s : m.shards)
    shards.push_back({{"tokens_file", s.tokens_file}, {"index_file", s.index_file}, {"tokens", s.tokens},
                      {"bytes", s.bytes}, {"documents", s.documents}});
  json inputs = json::array();
  for (const auto& in : m.inputs)
    inputs.push_back({{"path", in.path}, {"format", in.format}, {"documents", in.documents},
                      {"tokens", in.tokens}, {"empty_documents", in.empty_documents},
                      {"blank_lines", in.blank_lines}});
  return {{"format", "cream-tokens"},
          {"format_version", m.format_version},
          {"tokenizer",
           {{"path", m.tokenizer_path}, {"sha256", m.tokenizer_sha256}, {"vocab_size", m.vocab_size},
            {"bos_id", m.bos_id}, {"eos_id", m.eos_id}}},
          {"eos_appended", m.eos_appended},
          {"text_field", m.text_field},
          {"dtype", dtype_name(m.dtype)},
          {"max_shard_tokens", m.max_shard_tokens},
          {"documents", m.documents},
          {"tokens", m.tokens},
          {"empty_documents", m.empty_documents},
          {"blank_lines", m.blank_lines},
          {"shards", shards},
          {"inputs", inputs}};
}

Manifest manifest_from_json(const json& j, const std::string& where) {
  CREAM_CHECK(j.is_object(), where + ": not a JSON object");
  CREAM_CHECK(j.value("format", std::string()) == "cream-tokens",
              where + ": not a cream token manifest (key 'format' is not \"cream-tokens\")");
  Manifest m;
  m.format_version = get_field<int>(j, "format_version", where);
  CREAM_CHECK(m.format_version == kManifestFormatVersion,
              where + ": format_version " + std::to_string(m.format_version) + " is not supported (expected " +
                  std::to_string(kManifestFormatVersion) + ")");
  const json& tok = j.contains("tokenizer") ? j.at("tokenizer") : json();
  const std::string tok_where = where + " [tokenizer]";
  m.tokenizer_path = get_field<std::string>(tok, "path", tok_where);
  m.tokenizer_sha256 = get_field<std::string>(tok, "sha256", tok_where);
  m.vocab_size = get_field<int64_t>(tok, "vocab_size", tok_where);
  m.bos_id = get_field<int64_t>(tok, "bos_id", tok_where);
  m.eos_id = get_field<int64_t>(tok, "eos_id", tok_where);
  m.eos_appended = get_field<bool>(j, "eos_appended", where);
  m.text_field = get_field<std::string>(j, "text_field", where);
  m.dtype = parse_dtype(get_field<std::string>(j, "dtype", where), where);
  CREAM_CHECK(m.dtype == dtype_for_vocab(m.vocab_size),
              where + ": dtype " + dtype_name(m.dtype) + " does not match vocab_size " + std::to_string(m.vocab_size));
  m.max_shard_tokens = get_field<uint64_t>(j, "max_shard_tokens", where);
  m.documents = get_field<uint64_t>(j, "documents", where);
  m.tokens = get_field<uint64_t>(j, "tokens", where);
  m.empty_documents = get_field<uint64_t>(j, "empty_documents", where);
  m.blank_lines = get_field<uint64_t>(j, "blank_lines", where);
  CREAM_CHECK(j.contains("shards") && j.at("shards").is_array(), where + ": key 'shards' must be an array");
  uint64_t shard_tokens = 0, shard_docs = 0;
  for (const auto& s : j.at("shards")) {
    ShardInfo info;
    const std::string shard_where = where + " [shards]";
    info.tokens_file = get_field<std::string>(s, "tokens_file", shard_where);
    info.index_file = get_field<std::string>(s, "index_file", shard_where);
    info.tokens = get_field<uint64_t>(s, "tokens", shard_where);
    info.bytes = get_field<uint64_t>(s, "bytes", shard_where);
    info.documents = get_field<uint64_t>(s, "documents", shard_where);
    CREAM_CHECK(info.bytes == info.tokens * dtype_bytes(m.dtype),
                where + ": shard " + info.tokens_file + " bytes != tokens x " + std::to_string(dtype_bytes(m.dtype)));
    shard_tokens += info.tokens;
    shard_docs += info.documents;
    m.shards.push_back(std::move(info));
  }
  CREAM_CHECK(shard_tokens == m.tokens, where + ": 'tokens' (" + std::to_string(m.tokens) +
                                            ") differs from the sum over shards (" + std::to_string(shard_tokens) + ")");
  CREAM_CHECK(shard_docs == m.documents, where + ": 'documents' (" + std::to_string(m.documents) +
                                             ") differs from the sum over shards (" + std::to_string(shard_docs) + ")");
  if (j.contains("inputs") && j.at("inputs").is_array()) {
    for (const auto& in : j.at("inputs")) {
      const std::string in_where = where + " [inputs]";
      InputInfo info;
      info.path = get_field<std::string>(in, "path", in_where);
      info.format = get_field<std::string>(in, "format", in_where);
      info.documents = get_field<uint64_t>(in, "documents", in_where);
      info.tokens = get_field<uint64_t>(in, "tokens", in_where);
      info.empty_documents = get_field<uint64_t>(in, "empty_documents", in_where);
      info.blank_lines = get_field<uint64_t>(in, "blank_lines", in_where);
      m.inputs.push_back(std::move(info));
    }
  }
  return m;
}

Manifest read_manifest(const std::filesystem::path& folder) {
  const auto path = folder / kManifestFileName;
  CREAM_CHECK(std::filesystem::is_directory(folder), folder.string() + ": prepared data folder not found");
  CREAM_CHECK(std::filesystem::exists(path), path.string() + ": missing (not a prepared data folder?)");
  json j;
  try {
    j = json::parse(util::read_text_file(path));
  } catch (const json::exception& e) {
    throw Error(path.string() + ": invalid JSON: " + e.what());
  }
  return manifest_from_json(j, path.string());
}

}  // namespace cream::data
