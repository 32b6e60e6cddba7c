// `cream export`: a trainer checkpoint (or any HF Llama folder) turned into a plain HF
// model folder that transformers, vLLM and llama.cpp's converter load as they are:
// config.json with the export rules of docs/method.md, the weights converted to one dtype and
// sharded with an index when large, the tokenizer files and generation_config.json.
// Trainer state (optimizer, RNG, data position, resolved YAML) is never copied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/io/dtype.h"
#include "cream/model/config.h"

namespace cream::train {

struct ExportOptions {
  std::filesystem::path checkpoint;                // source folder (read only)
  std::filesystem::path out;                       // must not exist, nor lie inside `checkpoint`
  io::DType dtype = io::DType::BF16;               // F32, BF16 or F16
  uint64_t max_shard_bytes = 5'000'000'000ULL;     // HF's "5GB"; 0: always one file
};

struct ExportSummary {
  std::vector<std::string> files;  // every file of the exported folder, sorted
  int64_t tensors = 0;
  uint64_t weight_bytes = 0;       // sum of the converted tensors' bytes
  bool sharded = false;
};

// Tokenizer files copied through when the source has them.
const std::vector<std::string>& tokenizer_file_names();

// config.json of the export: config.to_json() (HF v4 spelling, ntk as a changed
// rope_theta, yarn-cream as an exact longrope) with torch_dtype naming `dtype`.
nlohmann::json export_config_json(const model::LlamaConfig& config, io::DType dtype);

// What HF writes for a Llama model without a generation config of its own: the special
// token ids of the model config (pad only when it has one); no sampling defaults.
nlohmann::json generation_config_json(const model::LlamaConfig& config);

// Validates the source completely (config, every weight against it) before writing
// anything, then builds `out` in a temporary sibling renamed at the end: on any error
// nothing is left at `out` and the source is untouched. Tensors are converted one at a
// time straight from the mapped source files, so memory stays at one tensor. A stray
// lm_head.weight next to tied embeddings is dropped. The source's generation_config.json
// is copied when it has one. A source with tokenizer.model but neither tokenizer_config.json
// nor tokenizer.json gets a tokenizer_config.json naming LlamaTokenizer, so that
// AutoTokenizer encodes as cream does. Errors are one cream::Error line naming the file or flag.
ExportSummary export_model(const ExportOptions& options);

}  // namespace cream::train
