// The architecture of a Llama-family model as written in an HF config.json, plus the RoPE
// variant it uses (docs/method.md "RoPE and its scaling variants", "Model families").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cream::model {

enum class RopeType {
  Default,    // plain RoPE
  Linear,     // position interpolation: angles of p / factor
  Ntk,        // static NTK-aware: theta * factor^(d/(d-2))
  Dynamic,    // HF dynamic NTK, recomputed per forward from the largest position
  Yarn,       // HF / YaRN paper: frequencies blended
  YarnCream,  // the CREAM authors' YaRN: wavelengths blended
  Llama3,     // HF rope_type llama3
  LongRope,   // HF longrope: per-dimension wavelength factors (our yarn-cream export)
};

// "default", "linear", "ntk", "dynamic", "yarn", "yarn-cream", "llama3", "longrope".
const char* rope_type_name(RopeType type);
// Inverse of rope_type_name (also accepts HF's "none" spelling as default); nullopt if unknown.
std::optional<RopeType> parse_rope_type(const std::string& name);

struct RopeScaling {
  RopeType type = RopeType::Default;
  double factor = 1.0;  // s
  // N0, the pre-trained window. When absent, max_position_embeddings stands in.
  std::optional<int64_t> original_max_position_embeddings;
  // yarn / yarn-cream
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  std::optional<double> attention_factor;  // also longrope
  std::optional<double> mscale;
  std::optional<double> mscale_all_dim;
  bool truncate = true;  // HF's yarn `truncate`: floor/ceil the correction range
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  // longrope: one wavelength factor per rotary frequency (head_dim / 2 each)
  std::vector<double> short_factor;
  std::vector<double> long_factor;
};

// The HF classes cream runs: one decoder (RMSNorm, SwiGLU MLP, RoPE, GQA), three spellings.
//   Llama:   LlamaForCausalLM, model_type "llama"; `attention_bias` puts biases on q/k/v/o.
//   Qwen2:   Qwen2ForCausalLM, model_type "qwen2"; biases on q/k/v always, never on o_proj
//            or the MLP; a sliding window only with use_sliding_window and per layer_types.
//   Mistral: MistralForCausalLM, model_type "mistral"; no biases; sliding_window on every
//            layer unless null.
enum class ModelFamily { Llama, Qwen2, Mistral };

// "LlamaForCausalLM", ... and "llama", "qwen2", "mistral".
const char* architecture_name(ModelFamily family);
const char* model_type_name(ModelFamily family);

struct LlamaConfig {
  ModelFamily family = ModelFamily::Llama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t num_hidden_layers = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // HF allows one id or a list (Llama-3.1)
  std::optional<int64_t> pad_token_id;
  std::string torch_dtype = "float32";
  RopeScaling rope;
  // Sliding-window keys of Mistral and Qwen2, kept as read so that to_json writes them back
  // (Llama folders never carry an active window: refused at load). HF's defaults when absent:
  // sliding_window 4096, max_window_layers 28.
  std::optional<int64_t> sliding_window;
  bool use_sliding_window = false;                // Qwen2 only
  int64_t max_window_layers = 28;                 // Qwen2 only
  std::vector<std::string> layer_types;           // Qwen2 only, as written (empty: derived)
  // Where the config was read from (from_json's source_name), for errors raised later.
  std::string source;

  // Reads HF v4 (`rope_scaling`, `torch_dtype`) and v5 (`rope_parameters`, `dtype`)
  // spellings; `model_type` / `architectures` pick the family (none given: Llama), and absent
  // optional fields take that family's HF config defaults. Every problem is one
  // cream::Error "<source_name>: <field>: <problem>". Validates before returning.
  static LlamaConfig from_json(const nlohmann::json& json, const std::string& source_name);
  static LlamaConfig from_file(const std::filesystem::path& path);

  // Throws cream::Error naming the field when sizes are inconsistent or out of range.
  void validate(const std::string& source_name = "model config") const;

  // HF v4 spelling (rope_scaling with both `type` and `rope_type`, torch_dtype, the family's
  // architectures and model_type and its own keys: attention_bias / mlp_bias for Llama,
  // sliding_window for Mistral, use_sliding_window / sliding_window / max_window_layers for
  // Qwen2) with docs/method.md's export rules: ntk becomes a changed rope_theta, yarn-cream
  // becomes an exact longrope.
  nlohmann::json to_json() const;

  // N0 for the scaling rules: rope.original_max_position_embeddings or max_position_embeddings.
  int64_t original_window() const;
  int64_t num_parameters() const;

  // Biases of the attention projections as the family's HF class creates them.
  bool qkv_bias() const { return attention_bias || family == ModelFamily::Qwen2; }
  bool o_proj_bias() const { return attention_bias; }  // false for Qwen2 and Mistral (validated)

  // The window transformers applies to at least one layer, or nullopt when every layer
  // attends to every earlier token. cream always attends to every earlier token, which is
  // the same computation for sequences of at most this many tokens.
  std::optional<int64_t> active_sliding_window() const;
  // Throws "<source>: sliding_window: ..." when a sequence of `tokens` tokens (keys, cache
  // included) is longer than the active sliding window; does nothing without one.
  void check_sequence_length(int64_t tokens) const;
};

}  // namespace cream::model
