#include "cream/train/rope_setup.h"

#include "cream/util/error.h"

namespace cream::train {

model::RopeType model_rope_type(config::RopeType type) {
  switch (type) {
    case config::RopeType::none: return model::RopeType::Default;
    case config::RopeType::linear: return model::RopeType::Linear;
    case config::RopeType::ntk: return model::RopeType::Ntk;
    case config::RopeType::dynamic: return model::RopeType::Dynamic;
    case config::RopeType::yarn: return model::RopeType::Yarn;
    case config::RopeType::yarn_cream: return model::RopeType::YarnCream;
    case config::RopeType::llama3: return model::RopeType::Llama3;
  }
  throw Error("rope.type: unsupported value");
}

model::LlamaConfig apply_rope_section(model::LlamaConfig model_config, const config::ExperimentConfig& experiment) {
  const auto& rope = experiment.rope;
  if (rope.type == config::RopeType::none) return model_config;

  // A fresh scaling: whatever the starting checkpoint had is replaced, not merged.
  model::RopeScaling scaling;
  scaling.type = model_rope_type(rope.type);
  scaling.factor = rope.factor.value_or(experiment.positions.extension_factor());
  scaling.original_max_position_embeddings = experiment.positions.train_length;
  if (rope.type == config::RopeType::yarn || rope.type == config::RopeType::yarn_cream) {
    scaling.beta_fast = rope.beta_fast.value_or(32.0);
    scaling.beta_slow = rope.beta_slow.value_or(1.0);
    scaling.attention_factor = rope.attention_factor;
  }
  if (rope.type == config::RopeType::llama3) {
    scaling.low_freq_factor = rope.low_freq_factor.value_or(1.0);
    scaling.high_freq_factor = rope.high_freq_factor.value_or(4.0);
  }
  model_config.rope = scaling;
  // docs/method.md (export rules): after training to L the config says max_position_embeddings = L (and the
  // scaling's original_max_position_embeddings = N), whatever the source model claimed. Except dynamic:
  // its window is max_position_embeddings itself (as transformers computes it), so L there would leave
  // every position below L unscaled, in training and in the export alike; it stays N.
  model_config.max_position_embeddings = rope.type == config::RopeType::dynamic
                                             ? experiment.positions.train_length
                                             : experiment.positions.target_length;
  model_config.validate("model config with the experiment's rope section");
  return model_config;
}

}  // namespace cream::train
