// ZeRO-1's split of the tensors over ranks, and AdamW holding only its owned tensors.
#include <gtest/gtest.h>

#include "cream/train/adamw.h"
#include "cream/train/training_state.h"

namespace cream::train {
namespace {

TEST(ShardOwners, BalancesLargestFirstAndIsDeterministic) {
  const std::vector<int64_t> numels{100, 10, 60, 50, 10, 5};
  const auto owners = shard_owners(numels, 2);
  // 100 -> 0; 60 -> 1; 50 -> 1 (60 < 100); 10 -> 0; 10 -> 0 (tie); 5 -> 1: loads 120 and 115
  std::vector<int64_t> load(2, 0);
  for (size_t i = 0; i < numels.size(); ++i) load[owners[i]] += numels[i];
  EXPECT_EQ(owners[0], 0);
  EXPECT_EQ(owners[2], 1);
  EXPECT_EQ(owners[3], 1);
  EXPECT_LE(std::abs(load[0] - load[1]), 10);
  EXPECT_EQ(shard_owners(numels, 2), owners);
  for (const int owner : shard_owners(numels, 1)) EXPECT_EQ(owner, 0);
  const auto many = shard_owners({1, 1, 1}, 8);  // more ranks than tensors: some own nothing
  EXPECT_EQ(many, (std::vector<int>{0, 1, 2}));
}

TEST(AdamWOwned, UpdatesAndSavesOnlyOwnedTensors) {
  torch::manual_seed(0);
  auto a = torch::randn({4, 3}), b = torch::randn({5});
  const auto a0 = a.clone(), b0 = b.clone();
  AdamWOptions options;
  options.owned = {true, false};
  AdamW optimizer({{"a", a, true}, {"b", b, true}}, options);
  EXPECT_EQ(optimizer.moment_bytes(), 2 * a.nbytes());
  optimizer.step(0.1, {torch::ones_like(a), torch::ones_like(b)});
  EXPECT_FALSE(torch::equal(a, a0));
  EXPECT_TRUE(torch::equal(b, b0));  // its owner updates it; this rank receives it
  std::vector<std::string> names;
  for (const auto& [name, tensor] : optimizer.state_tensors()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"step", "exp_avg.a", "exp_avg_sq.a"}));
  // The same update as an unsharded optimizer's on the owned tensor.
  auto c = a0.clone();
  AdamW whole({{"c", c, true}}, AdamWOptions{});
  whole.step(0.1, {torch::ones_like(c)});
  EXPECT_TRUE(torch::equal(a, c));
  AdamW restored({{"a", a.clone(), true}, {"b", b.clone(), true}}, options);
  restored.load_state(optimizer.state_tensors());
  EXPECT_EQ(restored.step_count(), 1);
}

}  // namespace
}  // namespace cream::train
