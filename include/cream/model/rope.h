// Rotary position embeddings for every scaling variant of docs/method.md, computed in float64
// (the angle p * inv_freq at p = 262143 loses ~0.02 rad in float32) and cast to the
// compute dtype only at the end.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "cream/model/config.h"

namespace cream::model {

struct RopeFrequencies {
  std::vector<double> inv_freq;   // head_dim / 2 entries, after scaling
  double attention_factor = 1.0;  // multiplies cos and sin (yarn mscale, longrope factor)
};

// The inverse frequencies and attention factor of `config`. `max_position` is the largest
// position id of the forward pass; only `dynamic` and `longrope` depend on it.
RopeFrequencies rope_frequencies(const LlamaConfig& config, int64_t max_position = 0);

// True when rope_frequencies depends on max_position (dynamic; longrope with short != long).
bool rope_depends_on_positions(const LlamaConfig& config);

// YaRN's per-frequency keep weights w_i (1 = original frequency, 0 = fully interpolated).
std::vector<double> yarn_keep_weights(const LlamaConfig& config);

// YaRN's attention factor (mscale) from the rope fields, for yarn and yarn-cream.
double yarn_attention_factor(const RopeScaling& rope);

// cos and sin tables for `positions` (int64 [B, T], any values >= 0, any order):
// each [B, T, head_dim] = cat(angles, angles) on positions' device, in `dtype`,
// already multiplied by the attention factor.
struct RopeTables {
  torch::Tensor cos;
  torch::Tensor sin;
};
RopeTables rope_tables(const LlamaConfig& config, const torch::Tensor& positions, torch::ScalarType dtype);

// q * cos + rotate_half(q) * sin, with rotate_half(x) = cat(-x2, x1) (HF layout).
// x: [B, heads, T, head_dim]; cos/sin: [B, T, head_dim].
torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& tables);

}  // namespace cream::model
