// The memory plan against what the code allocates: the state's bytes exactly
// (TrainingState::allocated_bytes()), and the peak of real training steps counted by a
// counting CPU allocator (every tensor byte LibTorch allocates on the CPU, nothing else).
#include <gtest/gtest.h>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "cream/model/llama.h"
#include "cream/model/presets.h"
#include "cream/train/memory_plan.h"
#include "cream/train/training_state.h"

namespace cream::train {
namespace {

using config::GradAccumulation;
using config::MemoryMode;

// LibTorch's CPU allocation (c10::alloc_cpu) that keeps the bytes alive now and at their
// peak. The data pointer is its own context, as raw_allocate() requires.
class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    void* data = c10::alloc_cpu(n);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sizes_[data] = n;
      current_ += static_cast<int64_t>(n);
      peak_ = std::max(peak_, current_);
    }
    return {data, data, &release, c10::Device(c10::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

  void install() {
    base_ = c10::GetCPUAllocator();
    c10::SetCPUAllocator(this, /*priority=*/0);
  }
  void uninstall() { c10::SetCPUAllocator(base_, /*priority=*/0); }
  int64_t current() {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  int64_t peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
  }
  void restart_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_ = current_;
  }

 private:
  static void release(void* data);

  c10::Allocator* base_ = nullptr;
  std::mutex mutex_;
  std::unordered_map<void*, size_t> sizes_;
  int64_t current_ = 0;
  int64_t peak_ = 0;
};

CountingAllocator& counter() {
  static CountingAllocator allocator;  // outlives every tensor it allocated
  return allocator;
}

void CountingAllocator::release(void* data) {
  auto& self = counter();
  {
    std::lock_guard<std::mutex> lock(self.mutex_);
    const auto found = self.sizes_.find(data);
    if (found != self.sizes_.end()) {
      self.current_ -= static_cast<int64_t>(found->second);
      self.sizes_.erase(found);
    }
  }
  c10::free_cpu(data);
}

struct CountingScope {
  CountingScope() { counter().install(); }
  ~CountingScope() { counter().uninstall(); }
};

bool decays(const std::string& name) { return name.find("norm") == std::string::npos; }

model::LlamaConfig small_config(bool tied = false) {
  auto c = model::preset("tiny");
  c.tie_word_embeddings = tied;
  return c;
}

struct Case {
  MemoryMode mode;
  config::Dtype dtype;
  GradAccumulation accumulation;
  std::string name;
};

std::vector<Case> all_cases() {
  return {{MemoryMode::fp32_masters, config::Dtype::fp32, GradAccumulation::fp32, "fp32-masters fp32"},
          {MemoryMode::fp32_masters, config::Dtype::bf16, GradAccumulation::fp32, "fp32-masters bf16"},
          {MemoryMode::bf16_sr, config::Dtype::bf16, GradAccumulation::fp32, "bf16-sr fp32 sums"},
          {MemoryMode::bf16_sr, config::Dtype::bf16, GradAccumulation::bf16, "bf16-sr bf16 sums"},
          {MemoryMode::bf16_rtn, config::Dtype::bf16, GradAccumulation::fp32, "bf16-rtn"},
          {MemoryMode::offload, config::Dtype::bf16, GradAccumulation::fp32, "offload"},
          {MemoryMode::step_in_backward, config::Dtype::bf16, GradAccumulation::fp32, "step-in-backward"}};
}

MemorySettings settings_of(const Case& c, int64_t sequence, int64_t accumulation, bool checkpointing,
                           int64_t stride = 1) {
  MemorySettings s;
  s.mode = c.mode;
  s.dtype = c.dtype;
  s.grad_accumulation = c.accumulation;
  s.micro_batch = 1;
  s.sequence_length = sequence;
  s.accumulation = accumulation;
  s.checkpointing = checkpointing;
  s.checkpointing_stride = stride;
  return s;
}

std::unique_ptr<TrainingState> make_state(const model::LlamaConfig& config, const Case& c, bool checkpointing = false,
                                          int64_t stride = 1) {
  const torch::Device cpu(torch::kCPU);
  model::LlamaForCausalLM held(config, held_weight_options(c.mode, c.dtype, cpu));
  model::initialize_weights(*held, 7);
  TrainingStateOptions options;
  options.mode = c.mode;
  options.accumulation = c.accumulation;
  options.adamw.weight_decay = 0.1;
  auto state = std::make_unique<TrainingState>(held, c.dtype, cpu, options, decays);
  state->compute()->model->activation_checkpointing = checkpointing;
  state->compute()->model->activation_checkpointing_stride = stride;
  return state;
}

// One optimizer step as the trainer takes it.
void train_step(TrainingState& state, const torch::Tensor& tokens, const torch::Tensor& positions, int64_t micro_batches,
                double clip) {
  state.begin_step(1e-3);
  for (int64_t i = 0; i < micro_batches; ++i) {
    const auto loss = state.compute()->loss_sum(tokens, positions, tokens);
    (loss.sum / static_cast<double>(micro_batches * (tokens.size(1) - 1))).backward();
  }
  state.clip_gradients(clip);
  state.step(1e-3);
}

TEST(MemoryPlan, StateBytesEqualTheAllocatedTensorsInEveryMode) {
  for (const bool tied : {false, true}) {
    const auto config = small_config(tied);
    const auto tokens = torch::randint(0, config.vocab_size, {1, 16}, torch::kLong);
    const auto positions = torch::arange(16, torch::kLong).unsqueeze(0);
    for (const auto& c : all_cases()) {
      SCOPED_TRACE(c.name + (tied ? " tied" : ""));
      auto state = make_state(config, c);
      // After a real step too: nothing the state keeps is allocated lazily.
      train_step(*state, tokens, positions, 1, c.mode == MemoryMode::step_in_backward ? 0.0 : 1.0);
      const auto allocated = state->allocated_bytes();
      const auto planned = planned_state_bytes(config, settings_of(c, 16, 1, false));
      EXPECT_EQ(planned.weights, allocated.weights);
      EXPECT_EQ(planned.gradients, allocated.gradients);
      EXPECT_EQ(planned.optimizer, allocated.optimizer);
      EXPECT_EQ(planned.masters, allocated.masters);
      EXPECT_EQ(planned.host, allocated.host);
      EXPECT_EQ(planned.staging, allocated.staging);
      // And independently of both: bytes per parameter as the mode's table gives them.
      const auto p = static_cast<uint64_t>(config.num_parameters());
      const uint64_t expected_total = c.mode == MemoryMode::fp32_masters ? (c.dtype == config::Dtype::bf16 ? 18 : 16) * p
                                      : c.mode == MemoryMode::offload    ? 16 * p
                                      : c.mode == MemoryMode::step_in_backward ? 6 * p
                                      : c.accumulation == GradAccumulation::fp32 ? 10 * p
                                                                                 : 8 * p;
      EXPECT_EQ(planned.weights + planned.gradients + planned.optimizer + planned.masters, expected_total);
    }
  }
}

// Models big enough that activations, the loss and the state all weigh, small enough
// for a test. Wide: the loss's [tokens, vocab] chunks dominate (as in Llama-2-7B's
// slice: several chunks); deep: the layers and the optimizer step do, with grouped-query
// attention.
model::LlamaConfig counted_config(bool wide_vocabulary) {
  auto c = model::preset("tiny");
  c.hidden_size = wide_vocabulary ? 256 : 512;
  c.intermediate_size = wide_vocabulary ? 688 : 1376;
  c.num_attention_heads = wide_vocabulary ? 4 : 8;
  c.num_key_value_heads = wide_vocabulary ? 4 : 2;
  c.head_dim = 64;
  c.num_hidden_layers = wide_vocabulary ? 2 : 3;
  c.vocab_size = wide_vocabulary ? 8192 : 1024;
  c.max_position_embeddings = 2048;
  return c;
}

struct Counted {
  int64_t peak = 0;
  uint64_t planned = 0;
  std::string planned_at;
};

Counted count_step(const model::LlamaConfig& config, const Case& c, int64_t sequence, int64_t micro_batches,
                   bool checkpointing, int64_t stride, int64_t loss_chunk_rows) {
  at::set_num_threads(1);
  CountingScope scope;
  const int64_t before = counter().current();
  auto state = make_state(config, c, checkpointing, stride);
  state->compute()->loss_chunk_rows = loss_chunk_rows;
  const auto tokens = torch::randint(0, config.vocab_size, {1, sequence}, torch::kLong);
  const auto positions = torch::arange(sequence, torch::kLong).unsqueeze(0);
  const double clip = c.mode == MemoryMode::step_in_backward ? 0.0 : 1.0;
  train_step(*state, tokens, positions, micro_batches, clip);  // warm-up, as `cream bench`
  counter().restart_peak();
  train_step(*state, tokens, positions, micro_batches, clip);
  Counted out;
  out.peak = counter().peak() - before;
  auto settings = settings_of(c, sequence, micro_batches, checkpointing, stride);
  settings.loss_chunk_rows = loss_chunk_rows;
  const auto plan = plan_memory(config, settings);
  out.planned = plan.peak;
  out.planned_at = plan.peak_at;
  return out;
}

// Every allocation of two training steps is counted (the second one's peak), against
// the plan of the same settings. The plan models these kernels tensor by tensor, so the
// bound is far tighter than the 10% the RSS check on the 7B slice allows.
TEST(MemoryPlan, PeakOfCountedTrainingStepsMatchesInEveryMode) {
  struct Policy {
    bool on;
    int64_t stride;
  };
  for (const bool wide : {true, false}) {
    const auto config = counted_config(wide);
    for (const auto& c : all_cases()) {
      for (const auto policy : {Policy{false, 1}, Policy{true, 1}, Policy{true, 2}}) {
        for (const int64_t micro_batches : {int64_t{1}, int64_t{2}}) {
          if (c.mode == MemoryMode::step_in_backward && micro_batches > 1) continue;
          const auto counted =
              count_step(config, c, wide ? 512 : 256, micro_batches, policy.on, policy.stride, wide ? 200 : 0);
          const double ratio = static_cast<double>(counted.planned) / static_cast<double>(counted.peak);
          std::printf("%-5s %-18s ckpt %d/%ld micro %ld: counted %7.2f MiB, planned %7.2f MiB (%s), ratio %.3f\n",
                      wide ? "wide" : "deep", c.name.c_str(), policy.on, static_cast<long>(policy.stride),
                      static_cast<long>(micro_batches), counted.peak / 1048576.0, counted.planned / 1048576.0,
                      counted.planned_at.c_str(), ratio);
          EXPECT_NEAR(ratio, 1.0, 0.03) << c.name << (wide ? " wide" : " deep") << " checkpointing " << policy.on
                                        << " stride " << policy.stride << " micro-batches " << micro_batches;
        }
      }
    }
  }
}

TEST(MemoryPlan, SlicePresetIsTwoLlama2Layers) {
  const auto slice = model::preset("llama2-7b-slice");
  const auto full = model::preset("llama2-7b");
  EXPECT_EQ(slice.num_hidden_layers, 2);
  EXPECT_EQ(slice.hidden_size, 4096);
  EXPECT_EQ(slice.intermediate_size, 11008);
  EXPECT_EQ(slice.num_attention_heads, 32);
  EXPECT_EQ(slice.num_key_value_heads, 32);
  EXPECT_EQ(slice.vocab_size, 32000);
  EXPECT_EQ(slice.max_position_embeddings, 4096);
  EXPECT_EQ(slice.rope_theta, 10000.0);
  // 2 layers of 202,383,360 + embedding and output 2 x 131,072,000 + the final norm.
  EXPECT_EQ(slice.num_parameters(), 666914816);
  const int64_t layer = (full.num_parameters() - slice.num_parameters()) / 30;
  EXPECT_EQ(layer, 202383360);
}

}  // namespace
}  // namespace cream::train
