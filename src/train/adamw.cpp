#include "cream/train/adamw.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "cream/train/stochastic_round.h"
#include "cream/util/error.h"

namespace cream::train {
namespace {

void validate_options(const AdamWOptions& o) {
  CREAM_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0 && o.beta2 >= 0.0 && o.beta2 < 1.0,
              "optim.betas: each beta must be in [0, 1), got [" + std::to_string(o.beta1) + ", " +
                  std::to_string(o.beta2) + "]");
  CREAM_CHECK(std::isfinite(o.eps) && o.eps > 0.0, "optim.eps: must be > 0, got " + std::to_string(o.eps));
  CREAM_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0,
              "optim.weight_decay: must be >= 0, got " + std::to_string(o.weight_decay));
}

std::string shape_of(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::string dtype_name(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    case torch::kFloat64: return "float64";
    default: return c10::toString(t.scalar_type());
  }
}

// The scalars of step t at learning rate lr, as LibTorch's AdamW computes them.
struct StepScalars {
  double lr, beta1, beta2, eps, weight_decay, bias_correction2, step_size;
};

StepScalars scalars_of(const AdamWOptions& o, int64_t t, double lr) {
  const double bias_correction1 = 1 - std::pow(o.beta1, static_cast<double>(t));
  const double bias_correction2 = 1 - std::pow(o.beta2, static_cast<double>(t));
  return {lr, o.beta1, o.beta2, o.eps, o.weight_decay, bias_correction2, lr / bias_correction1};
}

// The float32 update, in place: same expressions and order as LibTorch's AdamW so the
// float32 results coincide.
void update_in_float32(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& m, torch::Tensor& v,
                       const StepScalars& s, bool decay) {
  if (decay && s.weight_decay != 0) p.mul_(1 - s.lr * s.weight_decay);
  m.mul_(s.beta1).add_(grad, 1 - s.beta1);
  v.mul_(s.beta2).addcmul_(grad, grad, 1 - s.beta2);
  const auto denom = (v.sqrt() / std::sqrt(s.bias_correction2)).add_(s.eps);
  p.addcdiv_(m, denom, -s.step_size);
}

// Writes float32 `value` into bf16 `target`, rounded; keeps target where `apply` is false.
void write_rounded(torch::Tensor target, const torch::Tensor& value, Rounding rounding, at::Generator* generator,
                   const torch::Tensor& apply) {
  auto rounded = rounding == Rounding::stochastic ? stochastic_round_bf16(value, *generator)
                                                  : value.to(torch::kBFloat16);
  if (apply.defined()) rounded = torch::where(apply, rounded, target);
  target.copy_(rounded);
}

// bf16 weight and moments: upcast a chunk at a time, update in float32, round back.
void update_bfloat16(torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& m, torch::Tensor& v,
                     const StepScalars& s, bool decay, Rounding rounding, at::Generator* generator,
                     const torch::Tensor& apply) {
  const auto flat_p = p.view({-1}), flat_m = m.view({-1}), flat_v = v.view({-1});
  const auto flat_g = grad.reshape({-1});
  const int64_t n = flat_p.numel();
  for (int64_t start = 0; start < n; start += kUpdateChunkElements) {
    const int64_t end = std::min(n, start + kUpdateChunkElements);
    auto p32 = flat_p.slice(0, start, end).to(torch::kFloat32);
    auto m32 = flat_m.slice(0, start, end).to(torch::kFloat32);
    auto v32 = flat_v.slice(0, start, end).to(torch::kFloat32);
    const auto g32 = flat_g.slice(0, start, end).to(torch::kFloat32);
    update_in_float32(p32, g32, m32, v32, s, decay);
    write_rounded(flat_p.slice(0, start, end), p32, rounding, generator, apply);
    write_rounded(flat_m.slice(0, start, end), m32, rounding, generator, apply);
    write_rounded(flat_v.slice(0, start, end), v32, rounding, generator, apply);
  }
}

void check_lr(double lr) { CREAM_CHECK(std::isfinite(lr) && lr >= 0.0, "AdamW: learning rate must be finite and >= 0"); }

}  // namespace

AdamW::AdamW(std::vector<NamedParameter> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  validate_options(options_);
  CREAM_CHECK(options_.owned.empty() || options_.owned.size() == params_.size(),
              "AdamW: ownership given for " + std::to_string(options_.owned.size()) + " of " +
                  std::to_string(params_.size()) + " parameters");
  std::set<std::string> seen;
  moments_.reserve(params_.size());
  for (const auto& p : params_) {
    CREAM_CHECK(p.tensor.defined(), "AdamW: parameter '" + p.name + "' is undefined");
    const auto type = p.tensor.scalar_type();
    CREAM_CHECK(type == torch::kFloat32 || type == torch::kBFloat16,
                "AdamW: parameter '" + p.name + "' must be float32 or bfloat16, got " + dtype_name(p.tensor));
    CREAM_CHECK(type == torch::kFloat32 || p.tensor.is_contiguous(),
                "AdamW: bfloat16 parameter '" + p.name + "' must be contiguous");
    CREAM_CHECK(seen.insert(p.name).second, "AdamW: duplicate parameter name '" + p.name + "'");
    if (owns(moments_.size())) {
      moments_.push_back({torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve),
                          torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve)});
    } else {
      moments_.push_back({});
    }
    if (type == torch::kBFloat16 && options_.rounding == Rounding::stochastic && !generator_)
      generator_ = make_rounding_generator(p.tensor.device(), options_.rounding_seed);
  }
}

void AdamW::step(double lr) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params_.size());
  for (const auto& p : params_) grads.push_back(p.tensor.grad());
  step(lr, grads);
}

void AdamW::step(double lr, const std::vector<torch::Tensor>& grads) {
  check_lr(lr);
  CREAM_CHECK(grads.size() == params_.size(), "AdamW: " + std::to_string(grads.size()) + " gradients for " +
                                                  std::to_string(params_.size()) + " parameters");
  begin_step();
  const bool fused = !params_.empty() && std::all_of(params_.begin(), params_.end(), [](const NamedParameter& p) {
    return p.tensor.is_cuda() && p.tensor.scalar_type() == torch::kFloat32;
  });
  if (fused) {
    fused_cuda_step(lr, grads);
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (grads[i].defined() && owns(i)) update(i, grads[i], lr);
  }
}

void AdamW::begin_step() { ++step_count_; }

void AdamW::update(size_t index, const torch::Tensor& grad, double lr, const torch::Tensor& apply) {
  check_lr(lr);
  CREAM_CHECK(step_count_ > 0, "AdamW: update() before begin_step()");
  CREAM_CHECK(index < params_.size(), "AdamW: no parameter " + std::to_string(index));
  if (!owns(index)) return;
  auto& p = params_[index].tensor;
  CREAM_CHECK(grad.defined() && grad.sizes() == p.sizes(),
              "AdamW: gradient of '" + params_[index].name + "' has shape " +
                  (grad.defined() ? shape_of(grad) : std::string("undefined")) + ", expected " + shape_of(p));
  torch::NoGradGuard no_grad;
  const auto s = scalars_of(options_, step_count_, lr);
  const bool decay = params_[index].weight_decay;
  auto& m = moments_[index];
  if (p.scalar_type() == torch::kFloat32) {
    CREAM_CHECK(!apply.defined(), "AdamW: a masked update needs bfloat16 parameters");
    update_in_float32(p, grad.scalar_type() == torch::kFloat32 ? grad : grad.to(torch::kFloat32), m.exp_avg,
                      m.exp_avg_sq, s, decay);
  } else {
    update_bfloat16(p, grad, m.exp_avg, m.exp_avg_sq, s, decay, options_.rounding, rounding_generator(), apply);
  }
}

void AdamW::update_range(size_t index, int64_t start, int64_t end, const torch::Tensor& grad, double lr) {
  check_lr(lr);
  CREAM_CHECK(step_count_ > 0, "AdamW: update_range() before begin_step()");
  CREAM_CHECK(index < params_.size(), "AdamW: no parameter " + std::to_string(index));
  if (!owns(index)) return;
  auto& p = params_[index].tensor;
  CREAM_CHECK(p.scalar_type() == torch::kFloat32 && p.is_contiguous(),
              "AdamW: update_range() needs a contiguous float32 parameter ('" + params_[index].name + "')");
  CREAM_CHECK(0 <= start && start <= end && end <= p.numel() && grad.numel() == end - start,
              "AdamW: range [" + std::to_string(start) + ", " + std::to_string(end) + ") of '" + params_[index].name +
                  "' does not fit its " + std::to_string(p.numel()) + " elements and the gradient's " +
                  std::to_string(grad.numel()));
  torch::NoGradGuard no_grad;
  auto p_range = p.view({-1}).slice(0, start, end);
  auto m_range = moments_[index].exp_avg.view({-1}).slice(0, start, end);
  auto v_range = moments_[index].exp_avg_sq.view({-1}).slice(0, start, end);
  update_in_float32(p_range, grad.reshape({-1}).to(torch::kFloat32), m_range, v_range,
                    scalars_of(options_, step_count_, lr), params_[index].weight_decay);
}

void AdamW::fused_cuda_step(double lr, const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  // One launch per weight-decay group; the kernel reads t from a device tensor.
  for (const bool decay : {true, false}) {
    std::vector<torch::Tensor> params, gradients, exp_avgs, exp_avg_sqs;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!grads[i].defined() || !owns(i) || params_[i].weight_decay != decay) continue;
      params.push_back(params_[i].tensor);
      gradients.push_back(grads[i].to(torch::kFloat32));
      exp_avgs.push_back(moments_[i].exp_avg);
      exp_avg_sqs.push_back(moments_[i].exp_avg_sq);
    }
    if (params.empty()) continue;
    const auto t = torch::full({}, static_cast<double>(step_count_), params.front().options());
    const std::vector<torch::Tensor> steps(params.size(), t);
    at::_fused_adamw_(params, gradients, exp_avgs, exp_avg_sqs, {}, steps, lr, options_.beta1, options_.beta2,
                      decay ? options_.weight_decay : 0.0, options_.eps, /*amsgrad=*/false, /*maximize=*/false);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = torch::Tensor();
  }
}

uint64_t AdamW::moment_bytes() const {
  uint64_t bytes = 0;
  for (const auto& m : moments_)
    if (m.exp_avg.defined()) bytes += m.exp_avg.nbytes() + m.exp_avg_sq.nbytes();
  return bytes;
}

NamedTensors AdamW::state_tensors() const {
  NamedTensors state;
  state.reserve(2 + 2 * params_.size());
  state.emplace_back("step", torch::full({1}, step_count_, torch::TensorOptions().dtype(torch::kInt64)));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!owns(i)) continue;
    state.emplace_back("exp_avg." + params_[i].name, moments_[i].exp_avg);
    state.emplace_back("exp_avg_sq." + params_[i].name, moments_[i].exp_avg_sq);
  }
  if (generator_) {
    at::Generator shared = *generator_;  // a handle to the same generator
    state.emplace_back("rounding_rng", generator_state(shared));
  }
  return state;
}

bool AdamW::load_state(const NamedTensors& state) {
  std::unordered_map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, tensor] : state) {
    CREAM_CHECK(by_name.emplace(name, &tensor).second, "optimizer state: duplicate tensor '" + name + "'");
  }
  auto take = [&](const std::string& name) -> const torch::Tensor& {
    const auto it = by_name.find(name);
    CREAM_CHECK(it != by_name.end(), "optimizer state: missing tensor '" + name + "'");
    const torch::Tensor& t = *it->second;
    by_name.erase(it);
    return t;
  };
  const auto& step = take("step");
  CREAM_CHECK(step.defined() && step.scalar_type() == torch::kInt64 && step.numel() == 1,
              "optimizer state: tensor 'step' must be one int64 value");
  const int64_t restored_step = step.item<int64_t>();
  CREAM_CHECK(restored_step >= 0, "optimizer state: tensor 'step' is negative");
  // Validate everything before modifying anything, so a bad file leaves us intact.
  std::vector<std::pair<const torch::Tensor*, const torch::Tensor*>> sources(params_.size(), {nullptr, nullptr});
  for (size_t i = 0; i < params_.size(); ++i)
    if (owns(i)) sources[i] = {&take("exp_avg." + params_[i].name), &take("exp_avg_sq." + params_[i].name)};
  const torch::Tensor* rng = nullptr;
  if (by_name.count("rounding_rng") && generator_) {
    rng = &take("rounding_rng");
    CREAM_CHECK(rng->defined() && rng->scalar_type() == torch::kUInt8 && rng->dim() == 1,
                "optimizer state: tensor 'rounding_rng' must be a uint8 vector (a generator state)");
  }
  if (!by_name.empty()) {
    throw Error("optimizer state: unexpected tensor '" + by_name.begin()->first + "' (" +
                (by_name.begin()->first == "rounding_rng" ? "this optimizer does not round stochastically"
                                                          : "no parameter of that name") + ")");
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!owns(i)) continue;
    const auto& p = params_[i].tensor;
    for (const torch::Tensor* t : {sources[i].first, sources[i].second}) {
      CREAM_CHECK(t->defined() && t->scalar_type() == p.scalar_type() && t->sizes() == p.sizes(),
                  "optimizer state: tensor for '" + params_[i].name + "' has dtype/shape " +
                      (t->defined() ? dtype_name(*t) + " " + shape_of(*t) : std::string("undefined")) +
                      ", expected " + dtype_name(p) + " " + shape_of(p));
    }
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!owns(i)) continue;
    moments_[i].exp_avg.copy_(*sources[i].first);
    moments_[i].exp_avg_sq.copy_(*sources[i].second);
  }
  step_count_ = restored_step;
  return rng == nullptr || set_generator_state(*generator_, *rng);
}

}  // namespace cream::train
