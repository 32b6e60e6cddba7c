#include "cream/train/grad.h"

#include <algorithm>
#include <cmath>

namespace cream::train {

namespace {

// Sum of squares of one gradient in float64, in chunks so that the float64 copy
// never exceeds ~128 MB even for an embedding-sized tensor. Stays on the device.
torch::Tensor sum_of_squares(const torch::Tensor& grad) {
  constexpr int64_t kChunk = int64_t{1} << 24;
  const auto flat = grad.reshape({-1});
  auto total = torch::zeros({}, grad.options().dtype(torch::kFloat64));
  for (int64_t start = 0; start < flat.numel(); start += kChunk) {
    const auto piece = flat.slice(0, start, std::min(flat.numel(), start + kChunk));
    // A float64 copy squared in place: same values as pow(2) on a copy, one tensor fewer.
    total.add_(piece.to(torch::kFloat64, /*non_blocking=*/false, /*copy=*/true).pow_(2).sum());
  }
  return total;
}

}  // namespace

double grad_norm(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> squares;
  squares.reserve(params.size());
  for (const auto& p : params) {
    const auto& g = p.grad();
    if (!g.defined()) continue;
    // Gathered on the first gradient's device: one host sync at the end.
    const auto device = squares.empty() ? g.device() : squares.front().device();
    squares.push_back(sum_of_squares(g).to(device));
  }
  if (squares.empty()) return 0.0;
  return std::sqrt(torch::stack(squares).sum().item<double>());
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  const double norm = grad_norm(params);
  if (max_norm <= 0.0 || !std::isfinite(norm)) return norm;
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1.0) return norm;
  torch::NoGradGuard no_grad;
  for (const auto& p : params) {
    auto g = p.grad();
    if (g.defined()) g.mul_(coefficient);
  }
  return norm;
}

bool all_finite(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    if (!t.defined() || !t.is_floating_point()) continue;
    if (!torch::isfinite(t).all().item<bool>()) return false;
  }
  return true;
}

bool grads_all_finite(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) grads.push_back(p.grad());
  return all_finite(grads);
}

}  // namespace cream::train
