// `cream export`: see include/cream/train/export.h.
#include "cream/train/export.h"

#include <algorithm>
#include <optional>
#include <system_error>

#include <torch/torch.h>

#include "cream/io/checkpoint_folder.h"
#include "cream/io/safetensors.h"
#include "cream/io/tokenizer.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/log.h"

namespace cream::train {
namespace {

namespace fs = std::filesystem;
constexpr const char* kGenerationConfigFile = "generation_config.json";
constexpr const char* kTokenizerConfigFile = "tokenizer_config.json";

fs::path normalized(const fs::path& path) {
  std::error_code ec;
  auto result = fs::weakly_canonical(fs::absolute(path), ec);
  return ec ? fs::absolute(path).lexically_normal() : result;
}

// True when `inner` is `outer` or lies somewhere below it.
bool is_same_or_inside(const fs::path& inner, const fs::path& outer) {
  const auto a = normalized(inner), b = normalized(outer);
  auto ai = a.begin();
  for (auto bi = b.begin(); bi != b.end(); ++bi, ++ai) {
    if (bi->empty()) continue;  // a trailing separator
    if (ai == a.end() || *ai != *bi) return false;
  }
  return true;
}

// "out/" and "out" name the same folder; the temporary sibling needs a real file name.
fs::path without_trailing_separator(const fs::path& path) {
  auto result = path.lexically_normal();
  return result.filename().empty() ? result.parent_path() : result;
}

void check_paths(const ExportOptions& options) {
  const auto& source = options.checkpoint;
  CREAM_CHECK(!source.empty(), "--checkpoint: no folder given");
  CREAM_CHECK(!options.out.empty(), "--out: no folder given");
  CREAM_CHECK(fs::is_directory(source), "--checkpoint: " + source.string() + " is not a folder");
  CREAM_CHECK(fs::is_regular_file(source / "config.json"),
              "--checkpoint: " + (source / "config.json").string() + " does not exist");
  CREAM_CHECK(!fs::exists(fs::symlink_status(options.out)),
              "--out: " + options.out.string() + " already exists (choose a new folder)");
  CREAM_CHECK(!is_same_or_inside(options.out, source),
              "--out: " + options.out.string() + " lies inside the checkpoint folder " + source.string());
  const auto dtype = options.dtype;
  CREAM_CHECK(dtype == io::DType::F32 || dtype == io::DType::BF16 || dtype == io::DType::F16,
              std::string("--dtype: cannot export as ") + io::dtype_name(dtype) + " (use fp32, bf16 or fp16)");
}

// One source per expected tensor (module order), converted from the mapped file when written.
std::vector<io::TensorSource> converted_sources(const model::LlamaConfig& config, const io::CheckpointFolder& weights,
                                                io::DType out) {
  const auto target = model::torch_dtype(out);
  std::vector<io::TensorSource> sources;
  for (const auto& [name, shape] : model::expected_tensors(config)) {
    io::TensorSource source{name, out, shape, nullptr};
    source.write = [&weights, name = name, target](std::ostream& stream) {
      const auto& info = weights.info(name);
      // The mapping is read-only; from_blob wants a mutable pointer but the tensor is only read.
      auto* data = const_cast<std::byte*>(weights.data(name));
      const auto original =
          torch::from_blob(data, info.shape, torch::TensorOptions().dtype(model::torch_dtype(info.dtype)));
      const auto converted = original.to(target).contiguous();
      stream.write(static_cast<const char*>(converted.data_ptr()), static_cast<std::streamsize>(converted.nbytes()));
    };
    sources.push_back(std::move(source));
  }
  return sources;
}

void copy_file_into(const fs::path& file, const fs::path& folder) {
  std::error_code ec;
  fs::copy_file(file, folder / file.filename(), fs::copy_options::none, ec);
  CREAM_CHECK(!ec, file.string() + ": cannot copy into the export (" + ec.message() + ")");
}

std::vector<std::string> list_files(const fs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Without a tokenizer_config.json, transformers' AutoTokenizer falls back to a generic
// tokenizer that drops SentencePiece's dummy-prefix space and BOS. Naming LlamaTokenizer (and
// the special pieces, and BOS as cream adds it) makes it encode as cream does.
nlohmann::json llama_tokenizer_config_json(const io::Tokenizer& tokenizer) {
  // With add_dummy_prefix (Llama's setting) even "a" starts with a piece that begins with U+2581 ("▁").
  const auto first = tokenizer.encode("a");
  const bool dummy_prefix = !first.empty() && tokenizer.piece(first.front()).rfind("\xE2\x96\x81", 0) == 0;
  nlohmann::json j = {{"tokenizer_class", "LlamaTokenizer"},
                      {"add_bos_token", tokenizer.bos_id() >= 0},
                      {"add_eos_token", false},
                      {"add_prefix_space", dummy_prefix},
                      {"legacy", false},
                      {"clean_up_tokenization_spaces", false}};
  if (tokenizer.bos_id() >= 0) j["bos_token"] = tokenizer.piece(tokenizer.bos_id());
  if (tokenizer.eos_id() >= 0) j["eos_token"] = tokenizer.piece(tokenizer.eos_id());
  if (tokenizer.unk_id() >= 0) j["unk_token"] = tokenizer.piece(tokenizer.unk_id());
  if (tokenizer.pad_id() >= 0) j["pad_token"] = tokenizer.piece(tokenizer.pad_id());
  return j;
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                                 "special_tokens_map.json", "added_tokens.json"};
  return names;
}

nlohmann::json export_config_json(const model::LlamaConfig& config, io::DType dtype) {
  auto written = config;
  written.torch_dtype = model::hf_dtype_name(dtype);
  return written.to_json();
}

nlohmann::json generation_config_json(const model::LlamaConfig& config) {
  nlohmann::json j = nlohmann::json::object();
  if (config.bos_token_id) j["bos_token_id"] = *config.bos_token_id;
  if (config.eos_token_ids.size() == 1) j["eos_token_id"] = config.eos_token_ids.front();
  else if (!config.eos_token_ids.empty()) j["eos_token_id"] = config.eos_token_ids;
  if (config.pad_token_id) j["pad_token_id"] = *config.pad_token_id;
  return j;
}

ExportSummary export_model(const ExportOptions& given) {
  ExportOptions options = given;
  options.out = without_trailing_separator(given.out);
  check_paths(options);
  const auto& source = options.checkpoint;
  // Everything about the source is checked before the first byte is written.
  const auto config = model::LlamaConfig::from_file(source / "config.json");
  const io::CheckpointFolder weights(source);
  model::check_weights(config, weights);
  const auto sources = converted_sources(config, weights, options.dtype);
  std::optional<nlohmann::json> tokenizer_config;
  if (fs::is_regular_file(source / "tokenizer.model") && !fs::exists(source / kTokenizerConfigFile) &&
      !fs::exists(source / "tokenizer.json"))
    tokenizer_config = llama_tokenizer_config_json(io::Tokenizer(source / "tokenizer.model"));

  ExportSummary summary;
  for (const auto& tensor : sources) summary.weight_bytes += tensor.nbytes();
  summary.tensors = static_cast<int64_t>(sources.size());
  summary.sharded = options.max_shard_bytes != 0 && summary.weight_bytes > options.max_shard_bytes;

  if (!options.out.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(options.out.parent_path(), ec);
    CREAM_CHECK(!ec, "--out: cannot create " + options.out.parent_path().string() + " (" + ec.message() + ")");
  }
  util::create_folder_atomic(options.out, [&](const fs::path& tmp) {
    util::write_file_atomic(tmp / "config.json", export_config_json(config, options.dtype).dump(2) + "\n");
    io::CheckpointWriteOptions write_options;
    write_options.max_shard_bytes = options.max_shard_bytes;
    io::write_checkpoint(tmp, sources, write_options);
    for (const auto& name : tokenizer_file_names())
      if (fs::is_regular_file(source / name)) copy_file_into(source / name, tmp);
    if (tokenizer_config) util::write_file_atomic(tmp / kTokenizerConfigFile, tokenizer_config->dump(2) + "\n");
    if (fs::is_regular_file(source / kGenerationConfigFile))
      copy_file_into(source / kGenerationConfigFile, tmp);
    else
      util::write_file_atomic(tmp / kGenerationConfigFile, generation_config_json(config).dump(2) + "\n");
  });
  summary.files = list_files(options.out);
  if (!fs::is_regular_file(source / "tokenizer.model") && !fs::is_regular_file(source / "tokenizer.json"))
    log::warn("export: {} has no tokenizer.model or tokenizer.json; the export has no tokenizer", source.string());
  return summary;
}

}  // namespace cream::train
