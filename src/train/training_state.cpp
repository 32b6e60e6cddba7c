// TrainingState: picks the memory mode's class (src/train/memory_modes.h) and converts
// optimizer states written in another mode.
#include "cream/train/training_state.h"

#include <algorithm>
#include <map>
#include <set>

#include "cream/util/error.h"
#include "cream/util/log.h"
#include "train/memory_modes.h"

namespace cream::train {

namespace detail {

std::vector<NamedParameter> named_parameters(model::LlamaForCausalLMImpl& model, const DecayRule& decays) {
  std::vector<NamedParameter> params;
  for (const auto& item : model.named_parameters()) params.push_back({item.key(), item.value(), decays(item.key())});
  return params;
}

NamedTensors detached_parameters(const model::LlamaForCausalLMImpl& model) {
  NamedTensors out;
  for (const auto& item : model.named_parameters()) out.emplace_back(item.key(), item.value().detach());
  return out;
}

void copy_weights(const model::LlamaForCausalLMImpl& source, model::LlamaForCausalLMImpl& target) {
  torch::NoGradGuard no_grad;
  auto targets = target.parameters();
  const auto sources = source.parameters();
  CREAM_CHECK(targets.size() == sources.size(), "copy_weights: the two models differ in layout");
  for (size_t i = 0; i < targets.size(); ++i) targets[i].copy_(sources[i]);
}

model::LlamaForCausalLM copy_model(const model::LlamaForCausalLMImpl& like, const torch::TensorOptions& options) {
  model::LlamaForCausalLM copy(like.config(), options);
  copy_weights(like, *copy);
  return copy;
}

uint64_t parameter_bytes(const model::LlamaForCausalLMImpl& model) {
  uint64_t bytes = 0;
  for (const auto& p : model.parameters()) bytes += p.nbytes();
  return bytes;
}

std::vector<torch::Tensor> defined_grads(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (!p.grad().defined()) const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  return grads;
}

uint64_t parameter_count(const model::LlamaForCausalLMImpl& model) {
  uint64_t count = 0;
  for (const auto& p : model.parameters()) count += static_cast<uint64_t>(p.numel());
  return count;
}

}  // namespace detail

namespace {

bool is_moment(const std::string& name) {
  return name.rfind("exp_avg.", 0) == 0 || name.rfind("exp_avg_sq.", 0) == 0;
}

bool convertible_float(torch::ScalarType type) {
  return type == torch::kFloat32 || type == torch::kBFloat16 || type == torch::kFloat16;
}

const char* type_name(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat16: return "float16";
    default: return c10::toString(type);
  }
}

// The state as this mode's optimizer stores it: moments in its dtype, rounding_rng only
// when it rounds stochastically; `notes` says what changed (logged once it loaded).
NamedTensors conform_state(const NamedTensors& state, const AdamW& optimizer, const std::string& mode,
                           std::vector<std::string>& notes) {
  const auto target = optimizer.params().empty() ? torch::kFloat32 : optimizer.params().front().tensor.scalar_type();
  const bool wants_rng = optimizer.rounds_stochastically();
  std::map<std::string, int64_t> converted;  // "float32 -> bfloat16" -> tensors
  bool has_rng = false;
  NamedTensors out;
  for (const auto& [name, tensor] : state) {
    if (name == "rounding_rng") {
      has_rng = true;
      if (!wants_rng) {
        notes.push_back("rounding_rng dropped (" + mode + " does not round stochastically)");
        continue;
      }
    }
    if (is_moment(name) && tensor.defined() && tensor.scalar_type() != target &&
        convertible_float(tensor.scalar_type()) && convertible_float(target)) {
      ++converted[std::string(type_name(tensor.scalar_type())) + " -> " + type_name(target)];
      out.emplace_back(name, tensor.to(target));
      continue;
    }
    out.emplace_back(name, tensor);
  }
  for (const auto& [what, count] : converted)
    notes.push_back(std::to_string(count) + " AdamW moments converted " + what +
                    (target == torch::kBFloat16 ? ", rounded to nearest" : ", exactly") +
                    " (checkpoint written in another memory mode)");
  if (wants_rng && !has_rng) notes.push_back("no rounding_rng: the stochastic-rounding stream restarts from train.seed");
  return out;
}

// ZeRO-1: the moments of the tensors this rank owns (a whole or merged state holds all).
NamedTensors owned_part(const NamedTensors& state, const AdamW& optimizer) {
  const auto& owned = optimizer.options().owned;
  if (owned.empty()) return state;
  std::set<std::string> others;
  for (size_t i = 0; i < owned.size(); ++i)
    if (!owned[i]) others.insert(optimizer.params()[i].name);
  NamedTensors out;
  for (const auto& [name, tensor] : state) {
    const auto dot = name.find('.');
    if (is_moment(name) && others.count(name.substr(dot + 1))) continue;
    out.emplace_back(name, tensor);
  }
  return out;
}

}  // namespace

torch::TensorOptions held_weight_options(config::MemoryMode mode, config::Dtype dtype, const torch::Device& device) {
  const auto options = torch::TensorOptions().device(device);
  switch (mode) {
    case config::MemoryMode::fp32_masters: return options.dtype(torch::kFloat32);
    case config::MemoryMode::offload: return torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU);
    default: return options.dtype(torch::kBFloat16);
  }
}

torch::ScalarType checkpoint_weight_dtype(config::MemoryMode mode) {
  return mode == config::MemoryMode::fp32_masters || mode == config::MemoryMode::offload ? torch::kFloat32
                                                                                           : torch::kBFloat16;
}

std::vector<int> shard_owners(const std::vector<int64_t>& numels, int world_size) {
  std::vector<size_t> order(numels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return numels[a] > numels[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world_size), 0);
  std::vector<int> owners(numels.size(), 0);
  for (const size_t i : order) {
    const auto lightest = std::min_element(load.begin(), load.end()) - load.begin();
    owners[i] = static_cast<int>(lightest);
    load[lightest] += numels[i];
  }
  return owners;
}

struct TrainingState::Impl {
  TrainingStateOptions options;
  std::unique_ptr<detail::ModeState> mode;
  std::vector<int> owners;  // ZeRO-1: the rank that updates each parameter

  bool sharded() const { return !owners.empty(); }

  void sum_gradients_over_ranks() {
    if (!options.group) return;
    options.group->all_reduce_sum(mode->gradients_to_sum());
  }

  // ZeRO-1: every tensor's new value goes out from its owner.
  void broadcast_updates() {
    if (!sharded()) return;
    const auto weights = mode->checkpoint_weights();
    std::vector<bool> received(weights.size(), false);
    const int rank = options.group->rank();
    for (size_t i = 0; i < weights.size(); ++i) {
      options.group->broadcast(weights[i].second, owners[i]);
      received[i] = owners[i] != rank;
    }
    mode->refresh_compute(received);
  }
};

TrainingState::TrainingState(model::LlamaForCausalLM held, config::Dtype dtype, const torch::Device& device,
                             TrainingStateOptions options, const std::function<bool(const std::string&)>& decays)
    : impl_(std::make_unique<Impl>()) {
  const std::string name = config::to_string(options.mode);
  CREAM_CHECK(dtype == config::Dtype::bf16 || options.mode == config::MemoryMode::fp32_masters,
              "train.memory_mode: " + name + " keeps bf16 weights; with model.dtype fp32 the only mode is fp32-masters");
  const auto wanted = held_weight_options(options.mode, dtype, device);
  const auto first = held->parameters().front();
  CREAM_CHECK(first.scalar_type() == wanted.dtype().toScalarType() && first.device() == wanted.device(),
              "TrainingState: train.memory_mode " + name + " needs the model in " +
                  type_name(wanted.dtype().toScalarType()) + " on " + wanted.device().str() + ", got " +
                  type_name(first.scalar_type()) + " on " + first.device().str());
  options.adamw.rounding = options.mode == config::MemoryMode::bf16_rtn ? Rounding::nearest : Rounding::stochastic;
  options.adamw.rounding_seed = options.seed;
  if (options.group && options.shard_optimizer) {
    std::vector<int64_t> numels;
    for (const auto& p : held->parameters()) numels.push_back(p.numel());
    impl_->owners = shard_owners(numels, options.group->world_size());
    options.adamw.owned.clear();
    for (const int owner : impl_->owners) options.adamw.owned.push_back(owner == options.group->rank());
  }
  CREAM_CHECK(!options.group || options.mode != config::MemoryMode::step_in_backward,
              "train.memory_mode: step-in-backward runs on one process only");
  impl_->options = options;
  switch (options.mode) {
    case config::MemoryMode::fp32_masters:
      impl_->mode = detail::make_masters_state(std::move(held), dtype, options, decays);
      break;
    case config::MemoryMode::offload:
      impl_->mode = detail::make_offload_state(std::move(held), device, options, decays);
      break;
    default:
      impl_->mode = detail::make_lean_state(std::move(held), options, decays);
  }
}

TrainingState::~TrainingState() = default;

model::LlamaForCausalLM TrainingState::compute() const { return impl_->mode->compute(); }
const TrainingStateOptions& TrainingState::options() const { return impl_->options; }
void TrainingState::begin_step(double lr) { impl_->mode->begin_step(lr); }
void TrainingState::begin_micro_batch(bool last) { impl_->mode->begin_micro_batch(last); }
double TrainingState::clip_gradients(double max_norm) {
  impl_->sum_gradients_over_ranks();
  return impl_->mode->clip_gradients(max_norm);
}

void TrainingState::step(double lr) {
  impl_->mode->step(lr);
  impl_->broadcast_updates();
}
int64_t TrainingState::step_count() const { return impl_->mode->optimizer().step_count(); }
StateBytes TrainingState::allocated_bytes() const { return impl_->mode->allocated_bytes(); }

std::vector<torch::Tensor> TrainingState::gradient_sums() const {
  auto sums = impl_->mode->gradient_sums();
  CREAM_CHECK(!sums.empty(), std::string("TrainingState: gradient sums are readable in bf16-sr and bf16-rtn only, not in ") +
                                 config::to_string(impl_->options.mode));
  return sums;
}

std::vector<std::pair<std::string, torch::Tensor>> TrainingState::checkpoint_weights() const {
  return impl_->mode->checkpoint_weights();
}

NamedTensors TrainingState::optimizer_state() const { return impl_->mode->optimizer().state_tensors(); }

void TrainingState::load_optimizer_state(const NamedTensors& state) {
  auto& optimizer = impl_->mode->optimizer();
  const std::string mode = config::to_string(impl_->options.mode);
  std::vector<std::string> notes;
  const bool rng_fits = optimizer.load_state(conform_state(owned_part(state, optimizer), optimizer, mode, notes));
  for (const auto& note : notes) log::info("resume: optimizer state: {}", note);
  if (!rng_fits)
    log::warn("resume: optimizer state: rounding_rng does not fit this device's generator (checkpoint written on "
              "another device type?): the stochastic-rounding stream restarts from train.seed");
}

}  // namespace cream::train
