// Named architectures: the public Llama, Qwen2 and Mistral configs and a tiny one for tests and demos.
#pragma once

#include <string>
#include <vector>

#include "cream/model/config.h"

namespace cream::model {

// "tiny", "llama2-7b", "llama2-7b-slice" (Llama-2-7B's widths, vocabulary and 4K window
// with 2 layers: 7B-shaped activations and per-layer tensors on a CPU), "llama2-13b",
// "llama3-8b" (Meta-Llama-3-8B: 8K window, rope_theta 5e5, no rope scaling), "qwen2.5-7b"
// (Qwen2ForCausalLM, 32K window), "mistral-7b" (MistralForCausalLM, v0.3 shapes: 32K window,
// no sliding window), "tinyllama-1.1b".
std::vector<std::string> preset_names();

// The config of a preset; cream::Error listing the valid names when `name` is unknown.
LlamaConfig preset(const std::string& name);

}  // namespace cream::model
