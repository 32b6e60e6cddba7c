// `cream eval ppl` end to end: data and model checks, then evaluate_perplexity.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cream/eval/model_overrides.h"
#include "cream/eval/perplexity.h"
#include "cream/io/tokenizer.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/model/weights.h"
#include "cream/util/error.h"
#include "cream/util/log.h"
#include "cream/util/sha256.h"

namespace cream::eval {
namespace {

namespace fs = std::filesystem;

void check_tokenizer(const data::TokenDataset& data, const fs::path& model_folder, const model::LlamaConfig& config) {
  const auto tokenizer = io::tokenizer_file_in(model_folder);
  if (!tokenizer.empty()) {
    data.check_compatible(util::sha256_file(tokenizer), config.vocab_size);
    return;
  }
  log::warn("eval ppl: {} has no tokenizer.model or tokenizer.json; only the vocabulary size of the data is checked",
            model_folder.string());
  const auto& manifest = data.manifest();
  CREAM_CHECK(manifest.vocab_size <= config.vocab_size,
              (data.folder() / data::kManifestFileName).string() + ": tokenizer vocabulary (" +
                  std::to_string(manifest.vocab_size) + ") is larger than the model's vocab_size (" +
                  std::to_string(config.vocab_size) + ")");
}

}  // namespace

std::vector<std::vector<int32_t>> read_documents(const data::TokenDataset& data, const std::vector<uint64_t>& chosen,
                                                 int64_t max_tokens) {
  std::vector<std::vector<int32_t>> documents;
  documents.reserve(chosen.size());
  for (const auto doc : chosen) {
    uint64_t count = data.document_length(doc);
    if (max_tokens > 0) count = std::min<uint64_t>(count, static_cast<uint64_t>(max_tokens));
    std::vector<int32_t> tokens(count);
    data.read_tokens(data.document_start(doc), count, tokens.data());
    documents.push_back(std::move(tokens));
  }
  return documents;
}

nlohmann::json run_perplexity(const PerplexityRequest& request) {
  const fs::path model_folder = request.model_folder, data_folder = request.data_folder;
  CREAM_CHECK(fs::is_directory(data_folder), "--data: " + data_folder.string() + " is not a folder");
  CREAM_CHECK(fs::is_directory(model_folder), "--model: " + model_folder.string() + " is not a folder");
  check_options(request.options);
  auto config = model::LlamaConfig::from_file(model_folder / "config.json");
  const RopeOverrides overrides{request.rope_override, request.rope_params};
  apply_rope_overrides(config, overrides);
  const data::TokenDataset data(data_folder);
  check_tokenizer(data, model_folder, config);
  const auto chosen = select_documents(data, request.options);
  const auto& lengths = request.options.lengths;
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  warn_beyond_window(config, longest, "eval ppl");
  const bool truncate = request.options.mode == PerplexityMode::Truncate;
  const auto documents = read_documents(data, chosen, truncate ? longest : 0);

  const io::CheckpointFolder weights(model_folder);
  auto model = model::load_model(config, weights, request.device, request.dtype);
  const auto results = evaluate_perplexity(*model, documents, request.options);
  auto record = perplexity_json(model_folder.string(), config, request.rope_override, data_folder.string(),
                                request.options, chosen, results);
  record["partial"] = results.size() < lengths.size() ||
                      std::any_of(results.begin(), results.end(), [](const LengthResult& r) { return r.partial; });
  record["rope_params"] = request.rope_params;
  record["window"] = supported_window(config);
  record["dtype"] = model::hf_dtype_name(model::io_dtype(request.dtype));
  record["device"] = request.device.str();
  return record;
}

}  // namespace cream::eval
