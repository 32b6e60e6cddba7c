// Gradient utilities for the training step: global-norm clipping and finiteness.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace cream::train {

// Total L2 norm of the gradients of `params` (parameters without a gradient are
// skipped), accumulated in float64: sqrt(sum over tensors of sum(g^2)). When
// max_norm > 0 and the norm exceeds it, every gradient is scaled in place by
// max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_'s coefficient); when
// max_norm <= 0 nothing is changed. A non-finite norm is returned as is and the
// gradients are left untouched: the caller decides to skip the step.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

// Same, without clipping.
double grad_norm(const std::vector<torch::Tensor>& params);

// The same two over gradient tensors themselves (not parameters' .grad): for gradients
// kept elsewhere, e.g. float32 accumulators. Undefined entries are skipped.
double clip_gradients(const std::vector<torch::Tensor>& grads, double max_norm);
double gradients_norm(const std::vector<torch::Tensor>& grads);

// The factor clipping multiplies gradients by: max_norm / (norm + 1e-6) when
// max_norm > 0 and the (finite) norm exceeds max_norm, else 1 (nothing to do).
double clip_coefficient(double norm, double max_norm);

// sum(grad^2) in float64 as a 0-dim tensor on grad's device (no host sync); the
// float64 copy is made in chunks of 2^24 elements.
torch::Tensor grad_sum_of_squares(const torch::Tensor& grad);

// True when every element of every defined tensor is finite (no NaN, no +-inf).
bool all_finite(const std::vector<torch::Tensor>& tensors);

// all_finite over the gradients of `params`.
bool grads_all_finite(const std::vector<torch::Tensor>& params);

}  // namespace cream::train
