// TrainingState in every memory mode on a tiny model: the bytes it allocates, that it
// learns, offload == fp32-masters on the CPU, the step inside backward (masking, tied
// weights, activation checkpointing), exact resume and optimizer-state conversion.
#include <gtest/gtest.h>

#include <cmath>

#include "cream/model/presets.h"
#include "cream/train/training_state.h"
#include "cream/util/error.h"

namespace cream::train {
namespace {

using config::Dtype;
using config::GradAccumulation;
using config::MemoryMode;

struct Mode {
  MemoryMode mode;
  Dtype dtype = Dtype::bf16;
  GradAccumulation accumulation = GradAccumulation::fp32;
};

model::LlamaConfig tiny_config(bool tied = false) {
  auto config = model::preset("tiny");
  config.tie_word_embeddings = tied;
  return config;
}

bool decays(const std::string& name) { return name.find("norm") == std::string::npos; }

std::unique_ptr<TrainingState> make_state(const Mode& m, bool tied = false, uint64_t init_seed = 7) {
  model::LlamaForCausalLM model(tiny_config(tied), held_weight_options(m.mode, m.dtype, torch::kCPU));
  model::initialize_weights(*model, init_seed);
  TrainingStateOptions options;
  options.mode = m.mode;
  options.accumulation = m.accumulation;
  options.adamw = AdamWOptions{0.9, 0.95, 1e-8, 0.1};
  options.seed = 3;
  return std::make_unique<TrainingState>(model, m.dtype, torch::kCPU, options, decays);
}

// Fixed micro-batches of token ids [2, 16] (the labels too) and positions 0..15.
struct Batch {
  torch::Tensor tokens, positions;
};

std::vector<Batch> batches(int count, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i)
    out.push_back({torch::randint(0, 512, {2, 16}, generator, torch::kInt64), torch::arange(16).repeat({2, 1})});
  return out;
}

struct StepResult {
  double loss = 0, norm = 0;
};

// One optimizer step over `micro` as the trainer runs it.
StepResult train_step(TrainingState& state, const std::vector<Batch>& micro, double lr, double max_norm) {
  state.begin_step(lr);
  const double labels = static_cast<double>(micro.size() * 2 * 15);
  StepResult result;
  for (const auto& batch : micro) {
    const auto loss = state.compute()->loss_sum(batch.tokens, batch.positions, batch.tokens);
    (loss.sum / labels).backward();
    result.loss += loss.sum.item<double>() / labels;
  }
  result.norm = state.clip_gradients(max_norm);
  state.step(lr);
  return result;
}

uint64_t parameter_count(TrainingState& state) {
  uint64_t count = 0;
  for (const auto& p : state.compute()->parameters()) count += static_cast<uint64_t>(p.numel());
  return count;
}

void expect_same(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

NamedTensors deep_copy(const NamedTensors& tensors) {
  NamedTensors copy;
  for (const auto& [name, t] : tensors) copy.emplace_back(name, t.clone());
  return copy;
}

// bf16 tensors that differ by at most one rounding step anywhere (bit patterns of
// same-signed bf16 neighbours differ by one).
void expect_within_one_bf16_step(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto distance = (a[i].second.view(torch::kInt16).to(torch::kInt32) -
                           b[i].second.view(torch::kInt16).to(torch::kInt32)).abs().max().item<int>();
    EXPECT_LE(distance, 1) << a[i].first;
  }
}

TEST(TrainingState, AllocatedBytesAreTheDocumentedBytesPerParameter) {
  struct Row {
    Mode mode;
    uint64_t weights, gradients, optimizer, masters, host;
  };
  const Row rows[] = {
      {{MemoryMode::fp32_masters, Dtype::fp32}, 4, 4, 8, 0, 0},
      {{MemoryMode::fp32_masters, Dtype::bf16}, 2, 4, 8, 4, 0},
      {{MemoryMode::bf16_sr, Dtype::bf16, GradAccumulation::fp32}, 2, 4, 4, 0, 0},
      {{MemoryMode::bf16_sr, Dtype::bf16, GradAccumulation::bf16}, 2, 2, 4, 0, 0},
      {{MemoryMode::bf16_rtn, Dtype::bf16, GradAccumulation::fp32}, 2, 4, 4, 0, 0},
      {{MemoryMode::offload, Dtype::bf16}, 2, 2, 8, 4, 12},
      {{MemoryMode::step_in_backward, Dtype::bf16}, 2, 0, 4, 0, 0},
  };
  for (const auto& row : rows) {
    auto state = make_state(row.mode);
    const uint64_t p = parameter_count(*state);
    const auto bytes = state->allocated_bytes();
    const std::string what = config::to_string(row.mode.mode);
    EXPECT_EQ(bytes.weights, row.weights * p) << what;
    EXPECT_EQ(bytes.gradients, row.gradients * p) << what;
    EXPECT_EQ(bytes.optimizer, row.optimizer * p) << what;
    EXPECT_EQ(bytes.masters, row.masters * p) << what;
    EXPECT_EQ(bytes.host, row.host * p) << what;
    EXPECT_EQ(bytes.staging, 0u) << what << ": no staging on the CPU";
    // What a checkpoint holds agrees: the moments' dtype, the weights' dtype.
    const auto state_tensors = state->optimizer_state();
    const auto moment_type = row.optimizer == 4 ? torch::kBFloat16 : torch::kFloat32;
    EXPECT_EQ(state_tensors[1].second.scalar_type(), moment_type) << what;
    EXPECT_EQ(state->checkpoint_weights().front().second.scalar_type(), checkpoint_weight_dtype(row.mode.mode)) << what;
  }
}

TEST(TrainingState, EveryModeLowersTheLoss) {
  const auto micro = batches(2, 11);
  for (const Mode& mode : {Mode{MemoryMode::fp32_masters, Dtype::fp32}, Mode{MemoryMode::fp32_masters},
                           Mode{MemoryMode::bf16_sr}, Mode{MemoryMode::bf16_sr, Dtype::bf16, GradAccumulation::bf16},
                           Mode{MemoryMode::bf16_rtn}, Mode{MemoryMode::offload}}) {
    auto state = make_state(mode);
    const double first = train_step(*state, micro, 1e-2, 1.0).loss;
    double last = first;
    for (int step = 1; step < 15; ++step) last = train_step(*state, micro, 1e-2, 1.0).loss;
    EXPECT_LT(last, 0.7 * first) << config::to_string(mode.mode) << " first " << first << " last " << last;
    EXPECT_EQ(state->step_count(), 15);
  }
  // step-in-backward: one micro-batch per step, no clipping.
  auto state = make_state({MemoryMode::step_in_backward});
  const std::vector<Batch> one{micro.front()};
  const double first = train_step(*state, one, 1e-2, 0.0).loss;
  double last = first;
  for (int step = 1; step < 15; ++step) last = train_step(*state, one, 1e-2, 0.0).loss;
  EXPECT_LT(last, 0.7 * first) << "step-in-backward first " << first << " last " << last;
}

// The hook moves every micro-batch's bf16 gradient into the float32 accumulator at once:
// no .grad is left after backward, with or without (selective) activation checkpointing,
// whose reentrant backward runs the same hooks.
TEST(TrainingState, Float32AccumulationTakesEveryGradientAlsoUnderCheckpointing) {
  const auto micro = batches(2, 5);
  auto plain = make_state({MemoryMode::bf16_sr});
  auto checkpointed = make_state({MemoryMode::bf16_sr});
  auto every_other = make_state({MemoryMode::bf16_sr});
  checkpointed->compute()->model->activation_checkpointing = true;
  every_other->compute()->model->activation_checkpointing = true;
  every_other->compute()->model->activation_checkpointing_stride = 2;
  std::vector<double> norms;
  for (auto* state : {plain.get(), checkpointed.get(), every_other.get()}) {
    state->begin_step(1e-3);
    for (const auto& batch : micro) {
      state->compute()->loss_sum(batch.tokens, batch.positions, batch.tokens).sum.div(60.0).backward();
      for (const auto& p : state->compute()->parameters()) ASSERT_FALSE(p.grad().defined());
    }
    norms.push_back(state->clip_gradients(0.0));
    state->step(1e-3);
  }
  EXPECT_GT(norms[0], 0.0);
  EXPECT_DOUBLE_EQ(norms[1], norms[0]);
  EXPECT_DOUBLE_EQ(norms[2], norms[0]);
  expect_same(plain->checkpoint_weights(), checkpointed->checkpoint_weights());
  expect_same(plain->checkpoint_weights(), every_other->checkpoint_weights());
}

// On the CPU offload computes exactly what fp32-masters with bf16 computes: same norm,
// same clipping, same float32 AdamW, same rounding of the masters into the bf16 weights.
TEST(TrainingState, OffloadEqualsFp32MastersBitForBitOnTheCpu) {
  const auto micro = batches(2, 21);
  auto masters = make_state({MemoryMode::fp32_masters});
  auto offload = make_state({MemoryMode::offload});
  for (int step = 0; step < 4; ++step) {
    const auto a = train_step(*masters, micro, 5e-3, 0.5);  // 0.5: the norm is clipped
    const auto b = train_step(*offload, micro, 5e-3, 0.5);
    EXPECT_EQ(a.loss, b.loss) << "step " << step;
    EXPECT_EQ(a.norm, b.norm) << "step " << step;
    EXPECT_GT(a.norm, 0.5) << "clipping must be exercised";
  }
  expect_same(masters->checkpoint_weights(), offload->checkpoint_weights());
  expect_same(masters->optimizer_state(), offload->optimizer_state());
  const auto compute_a = masters->compute()->parameters(), compute_b = offload->compute()->parameters();
  for (size_t i = 0; i < compute_a.size(); ++i) EXPECT_TRUE(torch::equal(compute_a[i], compute_b[i])) << i;
}

// The update inside backward equals bf16-sr's after-backward update up to the
// stochastic rounding (another draw per tensor): every value within one bf16 step.
// With tied embeddings the shared weight is used twice; autograd sums both uses before
// the hook, so it is updated once, with the whole gradient. Activation checkpointing
// runs the hooks inside each layer's recomputed backward.
TEST(TrainingState, StepInBackwardUpdatesLikeBf16SrAlsoWithTiedEmbeddings) {
  const auto micro = batches(1, 8);
  for (const auto& [tied, checkpointing] : {std::pair{false, false}, {true, false}, {false, true}}) {
    auto in_backward = make_state({MemoryMode::step_in_backward}, tied);
    // Under reentrant checkpointing the hooks fire inside each layer's own backward.
    in_backward->compute()->model->activation_checkpointing = checkpointing;
    auto after = make_state({MemoryMode::bf16_sr, Dtype::bf16, GradAccumulation::bf16}, tied);
    for (int step = 0; step < 1; ++step) {
      const auto a = train_step(*in_backward, micro, 1e-2, 0.0);
      const auto b = train_step(*after, micro, 1e-2, 0.0);
      EXPECT_EQ(a.loss, b.loss);
      EXPECT_NEAR(a.norm, b.norm, 1e-9 * b.norm);
    }
    expect_within_one_bf16_step(in_backward->checkpoint_weights(), after->checkpoint_weights());
    for (const auto& p : in_backward->compute()->parameters()) EXPECT_FALSE(p.grad().defined());
  }
}

TEST(TrainingState, StepInBackwardMasksANonFiniteTensorAndReportsTheNorm) {
  auto state = make_state({MemoryMode::step_in_backward});
  const auto before = deep_copy(state->checkpoint_weights());
  auto norm_weight = state->compute()->model->norm->weight;
  norm_weight.register_hook([](const torch::Tensor& grad) { return torch::full_like(grad, std::nan("")); });
  const auto result = train_step(*state, batches(1, 2), 1e-2, 0.0);
  EXPECT_TRUE(std::isnan(result.norm));
  const auto after = state->checkpoint_weights();
  for (size_t i = 0; i < after.size(); ++i) {
    if (after[i].first == "model.norm.weight") {
      EXPECT_TRUE(torch::equal(after[i].second, before[i].second)) << "the NaN tensor must keep its values";
    } else {
      EXPECT_FALSE(torch::equal(after[i].second, before[i].second)) << after[i].first << " must be updated";
      EXPECT_TRUE(torch::isfinite(after[i].second).all().item<bool>()) << after[i].first;
    }
  }
  for (const auto& [name, tensor] : state->optimizer_state()) {
    if (name == "exp_avg.model.norm.weight") {
      EXPECT_EQ(tensor.abs().sum().item<double>(), 0.0) << "moments masked too";
    }
  }
  EXPECT_THROW(state->clip_gradients(1.0), Error);
}

// Stop after 2 steps, restore weights and optimizer state (with the rounding generator)
// into a fresh state: the next steps are identical to the bit.
TEST(TrainingState, Bf16SrResumesBitExactlyWithTheRoundingGenerator) {
  for (const Mode& mode : {Mode{MemoryMode::bf16_sr}, Mode{MemoryMode::step_in_backward}}) {
    const std::vector<Batch> micro = batches(1, 30);
    auto straight = make_state(mode);
    auto first = make_state(mode);
    for (int step = 0; step < 2; ++step) {
      train_step(*straight, micro, 1e-2, 0.0);
      train_step(*first, micro, 1e-2, 0.0);
    }
    const auto saved_weights = deep_copy(first->checkpoint_weights());
    const auto saved_state = deep_copy(first->optimizer_state());
    EXPECT_EQ(saved_state.back().first, "rounding_rng");
    auto resumed = make_state(mode, false, /*init_seed=*/99);  // other weights, overwritten below
    {
      torch::NoGradGuard no_grad;
      auto params = resumed->compute()->parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved_weights[i].second);
    }
    resumed->load_optimizer_state(saved_state);
    EXPECT_EQ(resumed->step_count(), 2);
    for (int step = 0; step < 3; ++step) {
      const auto a = train_step(*straight, micro, 1e-2, 0.0);
      const auto b = train_step(*resumed, micro, 1e-2, 0.0);
      EXPECT_EQ(a.loss, b.loss);
    }
    expect_same(straight->checkpoint_weights(), resumed->checkpoint_weights());
    expect_same(straight->optimizer_state(), resumed->optimizer_state());
  }
}

TEST(TrainingState, OptimizerStatesOfOtherModesAreConvertedOrRefusedByName) {
  const auto micro = batches(1, 4);
  auto masters = make_state({MemoryMode::fp32_masters});
  train_step(*masters, micro, 1e-2, 1.0);
  train_step(*masters, micro, 1e-2, 1.0);
  const auto float_state = deep_copy(masters->optimizer_state());

  // float32 moments into bf16-sr: rounded to nearest, logged; no rounding_rng: logged.
  auto lean = make_state({MemoryMode::bf16_sr});
  testing::internal::CaptureStderr();
  lean->load_optimizer_state(float_state);
  const auto log = testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("converted float32 -> bfloat16"), std::string::npos) << log;
  EXPECT_NE(log.find("restarts from train.seed"), std::string::npos) << log;
  EXPECT_EQ(lean->step_count(), 2);
  const auto converted = lean->optimizer_state();
  for (size_t i = 1; i < float_state.size(); ++i)
    EXPECT_TRUE(torch::equal(converted[i].second, float_state[i].second.to(torch::kBFloat16))) << float_state[i].first;

  // bf16 moments (and a rounding_rng) into offload: exact upcast, generator dropped.
  train_step(*lean, micro, 1e-2, 1.0);
  const auto bf16_state = deep_copy(lean->optimizer_state());
  auto offload = make_state({MemoryMode::offload});
  testing::internal::CaptureStderr();
  offload->load_optimizer_state(bf16_state);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("rounding_rng dropped"), std::string::npos);
  EXPECT_EQ(offload->step_count(), 3);
  const auto upcast = offload->optimizer_state();
  for (size_t i = 1; i + 1 < bf16_state.size(); ++i)
    EXPECT_TRUE(torch::equal(upcast[i].second, bf16_state[i].second.to(torch::kFloat32))) << bf16_state[i].first;

  // What cannot be converted is refused, naming the tensor.
  auto refused = [&](NamedTensors state, const std::string& name) {
    auto fresh = make_state({MemoryMode::bf16_sr});
    try {
      fresh->load_optimizer_state(state);
      ADD_FAILURE() << "accepted a state with a bad " << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  auto extra = float_state;
  extra.emplace_back("exp_avg.model.ghost.weight", torch::zeros({2}));
  refused(extra, "exp_avg.model.ghost.weight");
  auto integer = float_state;
  integer[1].second = integer[1].second.to(torch::kInt32);
  refused(integer, float_state[1].first.substr(std::string("exp_avg.").size()));
  auto reshaped = float_state;
  reshaped[2].second = torch::zeros({3, 3});
  refused(reshaped, float_state[2].first.substr(std::string("exp_avg_sq.").size()));
  auto missing = float_state;
  missing.erase(missing.begin() + 3);
  refused(missing, float_state[3].first);
}

TEST(TrainingState, RefusesAModelHeldInTheWrongDtype) {
  model::LlamaForCausalLM fp32_model(tiny_config(), torch::TensorOptions().dtype(torch::kFloat32));
  TrainingStateOptions options;
  options.mode = MemoryMode::bf16_sr;
  try {
    TrainingState state(fp32_model, Dtype::bf16, torch::kCPU, options, decays);
    ADD_FAILURE() << "accepted float32 weights for bf16-sr";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16-sr"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cream::train
