#include "cream/train/grad.h"

#include <algorithm>
#include <cmath>

namespace cream::train {

namespace {

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) grads.push_back(p.grad());
  return grads;
}

}  // namespace

torch::Tensor grad_sum_of_squares(const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  // Chunks keep the float64 copy under ~128 MB even for an embedding-sized tensor.
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

double gradients_norm(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> squares;
  squares.reserve(grads.size());
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    // Gathered on the first gradient's device: one host sync at the end.
    const auto device = squares.empty() ? g.device() : squares.front().device();
    squares.push_back(grad_sum_of_squares(g).to(device));
  }
  if (squares.empty()) return 0.0;
  return std::sqrt(torch::stack(squares).sum().item<double>());
}

double clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0.0 || !std::isfinite(norm)) return 1.0;
  const double coefficient = max_norm / (norm + 1e-6);
  return coefficient < 1.0 ? coefficient : 1.0;
}

double clip_gradients(const std::vector<torch::Tensor>& grads, double max_norm) {
  const double norm = gradients_norm(grads);
  const double coefficient = clip_coefficient(norm, max_norm);
  if (coefficient >= 1.0) return norm;
  torch::NoGradGuard no_grad;
  for (auto g : grads) {
    if (g.defined()) g.mul_(coefficient);
  }
  return norm;
}

double grad_norm(const std::vector<torch::Tensor>& params) { return gradients_norm(grads_of(params)); }

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  return clip_gradients(grads_of(params), max_norm);
}

bool all_finite(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    if (!t.defined() || !t.is_floating_point()) continue;
    if (!torch::isfinite(t).all().item<bool>()) return false;
  }
  return true;
}

bool grads_all_finite(const std::vector<torch::Tensor>& params) { return all_finite(grads_of(params)); }

}  // namespace cream::train
