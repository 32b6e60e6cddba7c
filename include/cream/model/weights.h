// Loading and saving a Llama model as an HF model folder (config.json + safetensors).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "cream/io/checkpoint_folder.h"
#include "cream/io/dtype.h"
#include "cream/io/safetensors.h"
#include "cream/model/config.h"
#include "cream/model/llama.h"

namespace cream::model {

// Every tensor an HF checkpoint of `config` must hold, with its shape, in module order.
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const LlamaConfig& config);

// torch dtype of a safetensors dtype (floating types only; cream::Error otherwise) and back.
torch::ScalarType torch_dtype(io::DType dtype);
io::DType io_dtype(torch::ScalarType dtype);
// HF's config spelling ("float32", "bfloat16", "float16") of a safetensors dtype.
std::string hf_dtype_name(io::DType dtype);

// Checks every tensor of `weights` against `config` and throws ONE cream::Error listing all
// missing, unexpected, mis-shaped and non-floating tensors. A stray lm_head.weight next to
// tied embeddings is accepted (and ignored).
void check_weights(const LlamaConfig& config, const io::CheckpointFolder& weights);

// Builds the model directly on `device` in `dtype` and copies every tensor in, converting.
LlamaForCausalLM load_model(const LlamaConfig& config, const io::CheckpointFolder& weights,
                            const torch::Device& device = torch::kCPU, torch::ScalarType dtype = torch::kFloat);
// Reads `folder`/config.json and the folder's weights.
LlamaForCausalLM load_model(const std::filesystem::path& folder, const torch::Device& device = torch::kCPU,
                            torch::ScalarType dtype = torch::kFloat);

// One io::TensorSource per parameter (HF names, module order), each converting its tensor
// to `out` on the CPU only when written, so saving never holds a second full copy.
std::vector<io::TensorSource> model_tensor_sources(LlamaForCausalLMImpl& model, io::DType out);

// Writes `folder` atomically: config.json (config.to_json(), torch_dtype set to `out`) and
// the weights (sharded above max_shard_bytes when it is not 0). Refuses an existing folder
// unless `replace`.
void save_model_folder(const std::filesystem::path& folder, LlamaForCausalLMImpl& model, const LlamaConfig& config,
                       io::DType out, uint64_t max_shard_bytes = 0, bool replace = false);

}  // namespace cream::model
