// trainer_state.json and optimizer.safetensors: round trips and one-line errors.
#include <gtest/gtest.h>

#include "cream/train/trainer_state.h"
#include "cream/util/fs.h"
#include "trainer_test_support.h"

namespace cream::train {
namespace {

TrainerState sample_state() {
  TrainerState state;
  state.step = 42;
  state.sampler_rng = util::Rng(7).state_string();
  state.sampler_draws = 168;
  state.sampler_batch_branch = positions::Branch::continuity;
  state.loader = {{"epoch", 1}, {"index", 5}};
  state.config_fingerprint = "0123456789abcdef";
  return state;
}

TEST(TrainerState, RoundTripsThroughJson) {
  const test::ScopedDir dir("trainer_state_json");
  const auto state = sample_state();
  write_trainer_state(dir.path, state);
  const auto read = read_trainer_state(dir.path);
  EXPECT_EQ(read.step, 42);
  EXPECT_EQ(read.sampler_rng, state.sampler_rng);
  EXPECT_EQ(read.sampler_draws, 168);
  EXPECT_EQ(read.sampler_batch_branch, positions::Branch::continuity);
  EXPECT_EQ(read.loader, state.loader);
  EXPECT_EQ(read.config_fingerprint, "0123456789abcdef");
}

TEST(TrainerState, BadFilesAreOneLineErrorsNamingTheFile) {
  const test::ScopedDir dir("trainer_state_bad");
  const auto path = (dir.path / kTrainerStateFile).string();
  util::write_file_atomic(dir.path / kTrainerStateFile, "{\"format_version\": 1, \"step\": 3");
  test::expect_error([&] { read_trainer_state(dir.path); }, {path, "not valid JSON"});
  auto json = sample_state().to_json();
  json.erase("sampler_rng");
  util::write_file_atomic(dir.path / kTrainerStateFile, json.dump());
  test::expect_error([&] { read_trainer_state(dir.path); }, {path, "sampler_rng"});
  json = sample_state().to_json();
  json["sampler_batch_branch"] = "sideways";
  util::write_file_atomic(dir.path / kTrainerStateFile, json.dump());
  test::expect_error([&] { read_trainer_state(dir.path); }, {path, "sampler_batch_branch", "sideways"});
  json = sample_state().to_json();
  json["step"] = "many";
  util::write_file_atomic(dir.path / kTrainerStateFile, json.dump());
  test::expect_error([&] { read_trainer_state(dir.path); }, {path, "step"});
}

TEST(OptimizerState, RoundTripsExactlyAndRefusesAnotherModel) {
  const test::ScopedDir dir("optimizer_state");
  torch::manual_seed(3);
  auto make = [](int64_t width) {
    std::vector<NamedParameter> params{{"a.weight", torch::randn({width, 3}).requires_grad_(true)},
                                       {"b.weight", torch::randn({4}).requires_grad_(true)}};
    return AdamW(params, AdamWOptions{});
  };
  auto optimizer = make(2);
  for (int step = 0; step < 3; ++step) {
    for (const auto& p : optimizer.params()) p.tensor.mutable_grad() = torch::randn_like(p.tensor);
    optimizer.step(1e-2);
  }
  write_optimizer_state(dir.path, optimizer);
  auto restored = make(2);
  read_optimizer_state(dir.path, restored);
  EXPECT_EQ(restored.step_count(), 3);
  const auto a = optimizer.state_tensors(), b = restored.state_tensors();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  auto other = make(5);
  test::expect_error([&] { read_optimizer_state(dir.path, other); },
                     {(dir.path / kOptimizerStateFile).string(), "a.weight"});
}

}  // namespace
}  // namespace cream::train
