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

// True when every element of every defined tensor is finite (no NaN, no +-inf).
bool all_finite(const std::vector<torch::Tensor>& tensors);

// all_finite over the gradients of `params`.
bool grads_all_finite(const std::vector<torch::Tensor>& params);

}  // namespace cream::train
