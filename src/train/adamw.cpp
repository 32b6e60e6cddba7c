#include "cream/train/adamw.h"

#include <cmath>
#include <set>
#include <unordered_map>

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

void copy_checked(torch::Tensor& destination, const torch::Tensor& source, const std::string& name) {
  CREAM_CHECK(source.defined(), "optimizer state: tensor '" + name + "' is undefined");
  CREAM_CHECK(source.scalar_type() == destination.scalar_type(),
              "optimizer state: tensor '" + name + "' has dtype " +
                  std::string(c10::toString(source.scalar_type())) + ", expected " +
                  std::string(c10::toString(destination.scalar_type())));
  CREAM_CHECK(source.sizes() == destination.sizes(),
              "optimizer state: tensor '" + name + "' has shape " + shape_of(source) + ", expected " +
                  shape_of(destination));
  torch::NoGradGuard no_grad;
  destination.copy_(source);
}

}  // namespace

AdamW::AdamW(std::vector<NamedParameter> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  validate_options(options_);
  std::set<std::string> seen;
  moments_.reserve(params_.size());
  for (const auto& p : params_) {
    CREAM_CHECK(p.tensor.defined(), "AdamW: parameter '" + p.name + "' is undefined");
    CREAM_CHECK(p.tensor.scalar_type() == torch::kFloat32,
                "AdamW: parameter '" + p.name + "' must be float32 master weights, got " +
                    std::string(c10::toString(p.tensor.scalar_type())));
    CREAM_CHECK(seen.insert(p.name).second, "AdamW: duplicate parameter name '" + p.name + "'");
    moments_.push_back({torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve),
                        torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve)});
  }
}

void AdamW::step(double lr) {
  CREAM_CHECK(std::isfinite(lr) && lr >= 0.0, "AdamW: learning rate must be finite and >= 0");
  torch::NoGradGuard no_grad;
  ++step_count_;
  const double beta1 = options_.beta1, beta2 = options_.beta2;
  // Same expressions and order as LibTorch's AdamW so the float32 results coincide.
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step_count_));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step_count_));
  const double step_size = lr / bias_correction1;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].tensor;
    const auto& grad = p.grad();
    if (!grad.defined()) continue;
    CREAM_CHECK(grad.sizes() == p.sizes(), "AdamW: gradient of '" + params_[i].name +
                                               "' has shape " + shape_of(grad) + ", expected " +
                                               shape_of(p));
    if (params_[i].weight_decay && options_.weight_decay != 0) p.mul_(1 - lr * options_.weight_decay);
    auto& m = moments_[i];
    m.exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    m.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    const auto denom = (m.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
    p.addcdiv_(m.exp_avg, denom, -step_size);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad() = torch::Tensor();
  }
}

NamedTensors AdamW::state_tensors() const {
  NamedTensors state;
  state.reserve(1 + 2 * params_.size());
  state.emplace_back("step", torch::full({1}, step_count_, torch::TensorOptions().dtype(torch::kInt64)));
  for (size_t i = 0; i < params_.size(); ++i) {
    state.emplace_back("exp_avg." + params_[i].name, moments_[i].exp_avg);
    state.emplace_back("exp_avg_sq." + params_[i].name, moments_[i].exp_avg_sq);
  }
  return state;
}

void AdamW::load_state(const NamedTensors& state) {
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
  std::vector<std::pair<const torch::Tensor*, const torch::Tensor*>> sources;
  for (const auto& p : params_) sources.emplace_back(&take("exp_avg." + p.name), &take("exp_avg_sq." + p.name));
  if (!by_name.empty()) {
    throw Error("optimizer state: unexpected tensor '" + by_name.begin()->first +
                "' (no parameter of that name)");
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i].tensor;
    for (const torch::Tensor* t : {sources[i].first, sources[i].second}) {
      CREAM_CHECK(t->defined() && t->scalar_type() == p.scalar_type() && t->sizes() == p.sizes(),
                  "optimizer state: tensor for '" + params_[i].name + "' has dtype/shape " +
                      (t->defined() ? std::string(c10::toString(t->scalar_type())) + " " + shape_of(*t)
                                    : std::string("undefined")) +
                      ", expected float32 " + shape_of(p));
    }
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    copy_checked(moments_[i].exp_avg, *sources[i].first, "exp_avg." + params_[i].name);
    copy_checked(moments_[i].exp_avg_sq, *sources[i].second, "exp_avg_sq." + params_[i].name);
  }
  step_count_ = restored_step;
}

}  // namespace cream::train
