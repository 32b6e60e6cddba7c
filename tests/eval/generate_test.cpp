// KV-cache decoding equals recomputing the whole sequence at every step, token for token.
#include <gtest/gtest.h>

#include <set>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "cream/eval/generate.h"
#include "cream/model/presets.h"
#include "cream/util/error.h"

namespace {

cream::model::LlamaForCausalLM tiny_model(cream::model::RopeType rope, uint64_t seed) {
  auto config = cream::model::preset("tiny");
  config.vocab_size = 97;
  if (rope == cream::model::RopeType::Linear) {
    config.rope.type = rope;
    config.rope.factor = 4.0;
    config.rope.original_max_position_embeddings = 64;
  }
  cream::model::LlamaForCausalLM model(config);
  // A larger init than HF's 0.02 so that argmax decisions are not near-ties.
  cream::model::initialize_weights(*model, seed, 0.3);
  model->eval();
  return model;
}

}  // namespace

TEST(Generate, CachedDecodingEqualsRecomputingFromScratch) {
  for (auto rope : {cream::model::RopeType::Default, cream::model::RopeType::Linear}) {
    auto model = tiny_model(rope, 5);
    cream::eval::GenerateOptions options;
    options.max_new_tokens = 24;
    const std::vector<int64_t> prompt = {1, 17, 42, 5, 63, 8};
    const auto cached = cream::eval::generate(*model, prompt, options);
    options.use_cache = false;
    const auto recomputed = cream::eval::generate(*model, prompt, options);
    ASSERT_EQ(cached.tokens.size(), 24u);
    EXPECT_EQ(cached.tokens, recomputed.tokens);
    // Not a degenerate constant output: the check would be weak otherwise.
    EXPECT_GT(std::set<int64_t>(cached.tokens.begin(), cached.tokens.end()).size(), 2u);
  }
}

TEST(Generate, SampledDecodingIsReproducibleBySeedAndCacheIndependent) {
  auto model = tiny_model(cream::model::RopeType::Default, 9);
  cream::eval::GenerateOptions options;
  options.max_new_tokens = 16;
  options.temperature = 0.8;
  options.top_p = 0.9;
  options.seed = 3;
  const std::vector<int64_t> prompt = {1, 2, 3};
  const auto first = cream::eval::generate(*model, prompt, options);
  const auto again = cream::eval::generate(*model, prompt, options);
  EXPECT_EQ(first.tokens, again.tokens);
  options.use_cache = false;
  EXPECT_EQ(cream::eval::generate(*model, prompt, options).tokens, first.tokens);
}

TEST(Generate, StopsAtAStopIdAndRejectsBadInput) {
  auto model = tiny_model(cream::model::RopeType::Default, 5);
  cream::eval::GenerateOptions options;
  options.max_new_tokens = 24;
  const std::vector<int64_t> prompt = {1, 17, 42, 5, 63, 8};
  const auto full = cream::eval::generate(*model, prompt, options);
  options.stop_ids = {full.tokens[3]};
  const auto stopped = cream::eval::generate(*model, prompt, options);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.tokens.back(), full.tokens[3]);
  EXPECT_LE(stopped.tokens.size(), 4u);

  EXPECT_THROW(cream::eval::generate(*model, {}, {}), cream::Error);
  EXPECT_THROW(cream::eval::generate(*model, {1, 97}, {}), cream::Error);
  cream::eval::GenerateOptions bad;
  bad.top_p = 0;
  EXPECT_THROW(cream::eval::generate(*model, {1}, bad), cream::Error);
  bad.top_p = 1;
  bad.temperature = -1;
  EXPECT_THROW(cream::eval::generate(*model, {1}, bad), cream::Error);
}

TEST(Generate, PickTokenKeepsOnlyTheNucleus) {
  // Probabilities 0.7, 0.2, 0.1: top_p 0.5 must always pick the first.
  const auto logits = torch::log(torch::tensor({0.7, 0.2, 0.1}, torch::kDouble));
  cream::eval::GenerateOptions options;
  options.temperature = 1.0;
  options.top_p = 0.5;
  auto generator = at::detail::createCPUGenerator(1);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(cream::eval::pick_token(logits, options, generator), 0);
  options.top_p = 1.0;
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 3000; ++i) ++counts[cream::eval::pick_token(logits, options, generator)];
  EXPECT_NEAR(counts[0] / 3000.0, 0.7, 0.04);
  EXPECT_NEAR(counts[2] / 3000.0, 0.1, 0.03);
}
