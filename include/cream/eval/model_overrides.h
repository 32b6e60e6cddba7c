// What every `cream eval` subcommand does to the model config before loading weights:
// `--rope-scaling TYPE:FACTOR[:ORIGINAL]` replaces the rope scaling, then each repeatable
// `--rope-param key=value` overrides one field, then the config is validated. Also the
// model's supported window (for the "beyond the window" warning) and the rope fields the
// JSON records write.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/model/config.h"

namespace cream::eval {

struct RopeOverrides {
  std::optional<std::string> scaling;  // --rope-scaling TYPE:FACTOR[:ORIGINAL]
  std::vector<std::string> params;     // --rope-param key=value, applied in order
  bool empty() const { return !scaling && params.empty(); }
};

// The keys --rope-param accepts: rope_theta (on the config itself) and the rope fields
// factor, original_max_position_embeddings, beta_fast, beta_slow, attention_factor, mscale,
// mscale_all_dim, low_freq_factor, high_freq_factor, truncate.
const std::vector<std::string>& rope_param_keys();

// Applies one "key=value". Throws one line naming --rope-param: not key=value, an unknown
// key (listing the valid ones), a value that is not a positive number (integer for
// original_max_position_embeddings, true/false/1/0 for truncate), or a key the effective
// rope type does not use (e.g. beta_fast with linear).
void apply_rope_param(model::LlamaConfig& config, const std::string& assignment);

// --rope-scaling, then every --rope-param, then config.validate() naming the flags.
void apply_rope_overrides(model::LlamaConfig& config, const RopeOverrides& overrides);

// The longest window the (possibly overridden) rope scaling was made for:
// max(max_position_embeddings, factor * original window) when scaled.
int64_t supported_window(const model::LlamaConfig& config);

// Logs a warning when `length` exceeds supported_window (evaluating beyond it is allowed).
void warn_beyond_window(const model::LlamaConfig& config, int64_t length, const std::string& what);

// The rope fields of a JSON record, as exported (docs/method.md's export rules): rope_theta,
// rope_scaling (null when none), rope_type, max_position_embeddings, window, rope_override,
// rope_params.
nlohmann::json rope_record(const model::LlamaConfig& config, const RopeOverrides& overrides);

}  // namespace cream::eval
