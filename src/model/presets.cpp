#include "cream/model/presets.h"

#include "cream/util/error.h"

namespace cream::model {
namespace {

LlamaConfig make(int64_t hidden, int64_t intermediate, int64_t heads, int64_t kv_heads, int64_t layers,
                 int64_t vocab, int64_t max_positions) {
  LlamaConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.num_hidden_layers = layers;
  c.vocab_size = vocab;
  c.max_position_embeddings = max_positions;
  c.rms_norm_eps = 1e-5;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

LlamaConfig tiny() {
  auto c = make(64, 172, 4, 2, 2, 512, 512);
  c.torch_dtype = "float32";
  return c;
}

LlamaConfig llama2(int64_t hidden, int64_t intermediate, int64_t heads, int64_t layers) {
  auto c = make(hidden, intermediate, heads, heads, layers, 32000, 4096);
  c.torch_dtype = "float16";
  return c;
}

LlamaConfig llama3_8b() {
  auto c = make(4096, 14336, 32, 8, 32, 128256, 8192);
  c.rope_theta = 500000.0;
  c.bos_token_id = 128000;
  c.eos_token_ids = {128001};
  c.torch_dtype = "bfloat16";
  return c;
}

// Qwen/Qwen2.5-7B: q/k/v biases, untied, a 32K window (max_position_embeddings 32768; a
// downloaded folder may state another value, and a run with model.path reads the folder's own
// config.json), use_sliding_window false with the folder's inactive sliding_window kept.
LlamaConfig qwen25_7b() {
  auto c = make(3584, 18944, 28, 4, 28, 152064, 32768);
  c.family = ModelFamily::Qwen2;
  c.rope_theta = 1000000.0;
  c.rms_norm_eps = 1e-6;
  c.bos_token_id = 151643;
  c.eos_token_ids = {151643};
  c.use_sliding_window = false;
  c.sliding_window = 131072;
  c.max_window_layers = 28;
  c.torch_dtype = "bfloat16";
  return c;
}

// mistralai/Mistral-7B-v0.3: v0.1's widths with a 32768 vocabulary, rope_theta 1e6 and no
// sliding window (v0.1's window of 4096 would refuse every sequence longer than 4096 tokens).
LlamaConfig mistral_7b() {
  auto c = make(4096, 14336, 32, 8, 32, 32768, 32768);
  c.family = ModelFamily::Mistral;
  c.rope_theta = 1000000.0;
  c.sliding_window = std::nullopt;
  c.torch_dtype = "bfloat16";
  return c;
}

LlamaConfig tinyllama() {
  auto c = make(2048, 5632, 32, 4, 22, 32000, 2048);
  c.torch_dtype = "float32";
  return c;
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"tiny", "llama2-7b", "llama2-7b-slice", "llama2-13b", "llama3-8b", "qwen2.5-7b", "mistral-7b", "tinyllama-1.1b"};
}

LlamaConfig preset(const std::string& name) {
  if (name == "tiny") return tiny();
  if (name == "llama2-7b") return llama2(4096, 11008, 32, 32);
  // Two layers of Llama-2-7B, full width and vocabulary: the memory plan's CPU check.
  if (name == "llama2-7b-slice") return llama2(4096, 11008, 32, 2);
  if (name == "llama2-13b") return llama2(5120, 13824, 40, 40);
  if (name == "llama3-8b") return llama3_8b();
  if (name == "qwen2.5-7b") return qwen25_7b();
  if (name == "mistral-7b") return mistral_7b();
  if (name == "tinyllama-1.1b") return tinyllama();
  std::string valid;
  for (const auto& n : preset_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw Error("unknown model preset \"" + name + "\" (valid: " + valid + ")");
}

}  // namespace cream::model
