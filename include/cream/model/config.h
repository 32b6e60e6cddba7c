// The architecture of a Llama model as written in an HF config.json, plus the RoPE
// variant it uses (docs/method.md "RoPE and its scaling variants").
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

struct LlamaConfig {
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

  // Reads HF v4 (`rope_scaling`, `torch_dtype`) and v5 (`rope_parameters`, `dtype`)
  // spellings; absent optional fields take HF LlamaConfig's defaults. Every problem is one
  // cream::Error "<source_name>: <field>: <problem>". Validates before returning.
  static LlamaConfig from_json(const nlohmann::json& json, const std::string& source_name);
  static LlamaConfig from_file(const std::filesystem::path& path);

  // Throws cream::Error naming the field when sizes are inconsistent or out of range.
  void validate(const std::string& source_name = "model config") const;

  // HF v4 spelling (rope_scaling with both `type` and `rope_type`, torch_dtype,
  // architectures, model_type) with docs/method.md's export rules: ntk becomes a changed
  // rope_theta, yarn-cream becomes an exact longrope.
  nlohmann::json to_json() const;

  // N0 for the scaling rules: rope.original_max_position_embeddings or max_position_embeddings.
  int64_t original_window() const;
  int64_t num_parameters() const;
};

}  // namespace cream::model
