#include "cream/model/rope.h"

#include <algorithm>
#include <cmath>

#include "cream/util/error.h"

namespace cream::model {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::vector<double> base_inv_freq(double theta, int64_t head_dim) {
  std::vector<double> inv(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv.size(); ++i)
    inv[i] = 1.0 / std::pow(theta, 2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
  return inv;
}

// NTK-aware base: theta * scale^(d/(d-2)).
double ntk_theta(double theta, double scale, int64_t head_dim) {
  const double d = static_cast<double>(head_dim);
  return theta * std::pow(scale, d / (d - 2.0));
}

// YaRN's g(s, m) = 0.1 m ln s + 1, and 1 when s <= 1.
double yarn_g(double scale, double m) { return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; }

std::vector<double> scale_by_wavelength(std::vector<double> inv, const std::vector<double>& wavelength_factor) {
  for (size_t i = 0; i < inv.size(); ++i) inv[i] /= wavelength_factor[i];
  return inv;
}

std::vector<double> llama3_inv_freq(const LlamaConfig& c) {
  const auto& r = c.rope;
  const double n0 = static_cast<double>(c.original_window());
  const double high_wavelength = n0 / r.high_freq_factor;  // shorter than this: keep
  const double low_wavelength = n0 / r.low_freq_factor;    // longer than this: divide
  auto inv = base_inv_freq(c.rope_theta, c.head_dim);
  for (double& f : inv) {
    const double wavelength = 2.0 * kPi / f;
    if (wavelength < high_wavelength) continue;
    if (wavelength > low_wavelength) {
      f /= r.factor;
      continue;
    }
    const double g = (n0 / wavelength - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    f = (1.0 - g) * f / r.factor + g * f;
  }
  return inv;
}

RopeFrequencies longrope_frequencies(const LlamaConfig& c, int64_t max_position) {
  const auto& r = c.rope;
  const int64_t n0 = c.original_window();
  const bool long_context = max_position + 1 > n0;
  RopeFrequencies out;
  out.inv_freq = scale_by_wavelength(base_inv_freq(c.rope_theta, c.head_dim),
                                     long_context ? r.long_factor : r.short_factor);
  if (r.attention_factor) {
    out.attention_factor = *r.attention_factor;
  } else {
    out.attention_factor =
        r.factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(r.factor) / std::log(static_cast<double>(n0)));
  }
  return out;
}

}  // namespace

std::vector<double> yarn_keep_weights(const LlamaConfig& c) {
  const auto& r = c.rope;
  const double d = static_cast<double>(c.head_dim);
  const double n0 = static_cast<double>(c.original_window());
  auto correction_dim = [&](double rotations) {
    return d * std::log(n0 / (2.0 * kPi * rotations)) / (2.0 * std::log(c.rope_theta));
  };
  double lo = correction_dim(r.beta_fast);
  double hi = correction_dim(r.beta_slow);
  if (r.truncate) {
    lo = std::floor(lo);
    hi = std::ceil(hi);
  }
  lo = std::max(lo, 0.0);
  hi = std::min(hi, d - 1.0);
  if (hi == lo) hi += 0.001;  // avoid a division by zero, as HF does
  std::vector<double> keep(static_cast<size_t>(c.head_dim / 2));
  for (size_t i = 0; i < keep.size(); ++i) {
    const double ramp = std::clamp((static_cast<double>(i) - lo) / (hi - lo), 0.0, 1.0);
    keep[i] = 1.0 - ramp;
  }
  return keep;
}

double yarn_attention_factor(const RopeScaling& r) {
  if (r.attention_factor) return *r.attention_factor;
  if (r.mscale && r.mscale_all_dim) return yarn_g(r.factor, *r.mscale) / yarn_g(r.factor, *r.mscale_all_dim);
  return yarn_g(r.factor, 1.0);
}

bool rope_depends_on_positions(const LlamaConfig& c) {
  return c.rope.type == RopeType::Dynamic ||
         (c.rope.type == RopeType::LongRope && c.rope.short_factor != c.rope.long_factor);
}

RopeFrequencies rope_frequencies(const LlamaConfig& c, int64_t max_position) {
  const auto& r = c.rope;
  RopeFrequencies out;
  switch (r.type) {
    case RopeType::Default:
      out.inv_freq = base_inv_freq(c.rope_theta, c.head_dim);
      break;
    case RopeType::Linear:
      out.inv_freq = base_inv_freq(c.rope_theta, c.head_dim);
      for (double& f : out.inv_freq) f /= r.factor;
      break;
    case RopeType::Ntk:
      out.inv_freq = base_inv_freq(ntk_theta(c.rope_theta, r.factor, c.head_dim), c.head_dim);
      break;
    case RopeType::Dynamic: {
      // method.md: N0 is max_position_embeddings, as in HF, which ignores any
      // original_max_position_embeddings for dynamic; reading that instead made a folder with
      // both (cream's own dynamic checkpoints and exports) run differently in transformers.
      const double n0 = static_cast<double>(c.max_position_embeddings);
      const double length = static_cast<double>(max_position) + 1.0;
      const double theta =
          length > n0 ? ntk_theta(c.rope_theta, r.factor * length / n0 - (r.factor - 1.0), c.head_dim) : c.rope_theta;
      out.inv_freq = base_inv_freq(theta, c.head_dim);
      break;
    }
    case RopeType::Yarn: {
      out.inv_freq = base_inv_freq(c.rope_theta, c.head_dim);
      const auto keep = yarn_keep_weights(c);
      for (size_t i = 0; i < keep.size(); ++i)
        out.inv_freq[i] = (out.inv_freq[i] / r.factor) * (1.0 - keep[i]) + out.inv_freq[i] * keep[i];
      out.attention_factor = yarn_attention_factor(r);
      break;
    }
    case RopeType::YarnCream: {
      const auto keep = yarn_keep_weights(c);
      std::vector<double> wavelength_factor(keep.size());
      for (size_t i = 0; i < keep.size(); ++i) wavelength_factor[i] = (1.0 - keep[i]) * r.factor + keep[i];
      out.inv_freq = scale_by_wavelength(base_inv_freq(c.rope_theta, c.head_dim), wavelength_factor);
      out.attention_factor = yarn_attention_factor(r);
      break;
    }
    case RopeType::Llama3:
      out.inv_freq = llama3_inv_freq(c);
      break;
    case RopeType::LongRope:
      return longrope_frequencies(c, max_position);
  }
  return out;
}

RopeTables rope_tables(const LlamaConfig& config, const torch::Tensor& positions, torch::ScalarType dtype) {
  CREAM_CHECK(positions.dim() == 2, "rope: position ids must be [batch, time]");
  CREAM_CHECK(positions.scalar_type() == torch::kLong, "rope: position ids must be int64");
  int64_t max_position = 0;
  if (rope_depends_on_positions(config) && positions.numel() > 0) max_position = positions.max().item<int64_t>();
  const auto freqs = rope_frequencies(config, max_position);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const auto inv = torch::tensor(freqs.inv_freq, f64).to(positions.device());
  const auto angles = positions.to(torch::kDouble).unsqueeze(-1) * inv;  // [B, T, d/2]
  const auto both = torch::cat({angles, angles}, -1);                    // [B, T, d]
  return {(both.cos() * freqs.attention_factor).to(dtype), (both.sin() * freqs.attention_factor).to(dtype)};
}

torch::Tensor apply_rope(const torch::Tensor& x, const RopeTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * tables.cos.unsqueeze(1) + rotated * tables.sin.unsqueeze(1);
}

}  // namespace cream::model
