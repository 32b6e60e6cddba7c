// Applies an experiment's `rope` section to a model config (docs/method.md "RoPE and its
// scaling variants"), so that training, checkpoints and exports use one config.json.
#pragma once

#include "cream/config/experiment.h"
#include "cream/model/config.h"

namespace cream::train {

// rope.type none keeps the model's own RoPE (and its scaling, if any). Every other
// type replaces the model's scaling with that type: factor = rope.factor (resolved,
// L/N by default), original_max_position_embeddings = N (positions.train_length),
// the type's own keys (beta_fast/beta_slow/attention_factor for yarn and yarn-cream,
// low/high_freq_factor for llama3), and max_position_embeddings = L when L exceeds
// the model's window. The result is validated.
model::LlamaConfig apply_rope_section(model::LlamaConfig model_config, const config::ExperimentConfig& experiment);

// The model concern's RoPE type for a config RoPE type (none -> Default).
model::RopeType model_rope_type(config::RopeType type);

}  // namespace cream::train
