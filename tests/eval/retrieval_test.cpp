// Retrieval evals, the parts below a whole run: answer parsing and checks, the cell plan,
// --rope-param overrides, and teacher-forced scoring against the full logits of forward().
#include <gtest/gtest.h>

#include <limits>
#include <set>

#include <torch/torch.h>

#include "cream/eval/generate.h"
#include "cream/eval/model_overrides.h"
#include "cream/eval/retrieval.h"
#include "retrieval_test_support.h"

namespace cream::eval {
namespace {

using cream::test::expect_error;

TEST(FirstInteger, ParsesTheFirstRunOfDigits) {
  EXPECT_EQ(first_integer("12345."), 12345);
  EXPECT_EQ(first_integer(" 0042"), 42);
  EXPECT_EQ(first_integer("The pass key is 123. Remember 456"), 123);
  EXPECT_EQ(first_integer("-17 degrees"), 17);  // the sign is not part of the key
  EXPECT_EQ(first_integer("<REGISTER_CONTENT> is <3071>"), 3071);
  EXPECT_FALSE(first_integer("no digits here").has_value());
  EXPECT_FALSE(first_integer("").has_value());
  EXPECT_EQ(first_integer("99999999999999999999999 x"), std::numeric_limits<int64_t>::max());
}

TEST(AnswerChecks, CaseWhitespaceAndFirstLine) {
  EXPECT_TRUE(contains_ignoring_case("The value is 9F2A-bc.", "9f2a-BC"));
  EXPECT_FALSE(contains_ignoring_case("9f2a", "9f2a-bc"));
  EXPECT_EQ(normalise_whitespace("  Eat a\n sandwich\t\tAND  "), "eat a sandwich and");
  EXPECT_EQ(first_line("\n  Paris is nice\nsecond line"), "Paris is nice");
  EXPECT_EQ(first_line("only"), "only");
  EXPECT_EQ(first_line(" \n "), "");
}

data::RetrievalPrompt prompt_with_answer(const std::string& answer) {
  data::RetrievalPrompt prompt;
  prompt.ids = {1, 5, 6};
  prompt.answer = answer;
  prompt.token_depth_percent = 40;
  return prompt;
}

TEST(ScoreOutput, EachTaskUsesItsRule) {
  EXPECT_TRUE(score_output(RetrievalTask::Passkey, prompt_with_answer("4521"), " 4521. The pass key").correct);
  EXPECT_FALSE(score_output(RetrievalTask::Passkey, prompt_with_answer("4521"), "45210").correct);
  EXPECT_FALSE(score_output(RetrievalTask::Lines, prompt_with_answer("77"), "line 3 has 77").correct);
  EXPECT_TRUE(score_output(RetrievalTask::KeyValue, prompt_with_answer("ab12-CD"), "\"AB12-cd\"").correct);
  const auto needle = score_output(RetrievalTask::Needle, prompt_with_answer(data::kDefaultNeedle),
                                   "\nEat a sandwich\n and  sit in DOLORES park.\nMore text");
  EXPECT_TRUE(needle.correct);  // the key phrase after whitespace normalisation
  // The first line "Eat a sandwich" (3 tokens) against the 21-token needle: F1 = 1/4.
  EXPECT_NEAR(needle.rouge_l_f1, 0.25, 1e-12);
  EXPECT_EQ(needle.prompt_tokens, 3);
  EXPECT_EQ(needle.token_depth, 40);
}

TEST(PlanCells, SizesOuterDepthsInnerAndKvGoldPositions) {
  RetrievalOptions options;
  options.sizes = {100, 200};
  options.depths = {0, 50};
  const auto cells = plan_cells(options);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[1].size, 100);
  EXPECT_EQ(cells[1].depth, 50);
  EXPECT_EQ(cells[2].size, 200);

  RetrievalOptions kv;
  kv.task = RetrievalTask::KeyValue;
  kv.sizes = {75, 3};
  const auto kv_cells = plan_cells(kv);
  // 75 pairs: round(i * 74 / 4) = 0, 18.5 -> 19, 37, 55.5 -> 56, 74; 3 pairs: 0, 1, 2.
  ASSERT_EQ(kv_cells.size(), 8u);
  std::vector<int64_t> gold;
  for (const auto& c : kv_cells) gold.push_back(c.gold_index);
  EXPECT_EQ(gold, (std::vector<int64_t>{0, 19, 37, 56, 74, 0, 1, 2}));
  EXPECT_DOUBLE_EQ(kv_cells[2].depth, 50.0);
  EXPECT_DOUBLE_EQ(kv_cells[6].depth, 50.0);
  kv.sizes = {75};
  kv.gold_positions = {0, 18, 74};
  EXPECT_DOUBLE_EQ(plan_cells(kv)[1].depth, 100.0 * 18 / 74);
}

TEST(PlanCells, RejectsBadOptionsNamingTheFlag) {
  RetrievalOptions options;
  options.sizes = {100};
  options.depths = {0, 101};
  expect_error([&] { plan_cells(options); }, {"--depths", "101", "0..100"});
  options.depths = {-5};
  expect_error([&] { plan_cells(options); }, {"--depths", "-5"});
  options.depths = {50};
  options.trials = 0;
  expect_error([&] { plan_cells(options); }, {"--trials"});
  options.trials = 1;
  options.sizes = {0};
  expect_error([&] { plan_cells(options); }, {"--lengths", "0"});
  options.task = RetrievalTask::Lines;
  options.sizes = {10};
  options.scoring = Scoring::Forced;
  expect_error([&] { plan_cells(options); }, {"--scoring", "passkey"});
  RetrievalOptions kv;
  kv.task = RetrievalTask::KeyValue;
  kv.sizes = {75, 10};
  kv.gold_positions = {0, 18};
  expect_error([&] { plan_cells(kv); }, {"--gold-positions", "18", "0..9", "10 pairs"});
  expect_error([] { parse_scoring("sampled"); }, {"--scoring", "sampled"});
}

TEST(TrialStream, DependsOnTheCellNotItsPlace) {
  const CellSpec a{1024, 50, -1}, b{1024, 60, -1}, c{2048, 50, -1};
  EXPECT_EQ(trial_stream(RetrievalTask::Passkey, a, 0), trial_stream(RetrievalTask::Passkey, a, 0));
  const std::set<uint64_t> streams = {
      trial_stream(RetrievalTask::Passkey, a, 0), trial_stream(RetrievalTask::Passkey, a, 1),
      trial_stream(RetrievalTask::Passkey, b, 0), trial_stream(RetrievalTask::Passkey, c, 0),
      trial_stream(RetrievalTask::Lines, a, 0)};
  EXPECT_EQ(streams.size(), 5u);
}

model::LlamaConfig config_with(model::RopeType type) {
  auto config = test::retrieval_config();
  config.rope.type = type;
  config.rope.factor = 4;
  return config;
}

TEST(RopeParams, OverrideFieldsInOrderAfterRopeScaling) {
  auto config = test::retrieval_config();
  apply_rope_overrides(config, {std::string("yarn:8:128"),
                                {"beta_fast=16", "beta_slow=2", "truncate=false", "factor=6", "rope_theta=50000",
                                 "mscale=0.7", "mscale_all_dim=0.5", "attention_factor=1.25"}});
  EXPECT_EQ(config.rope.type, model::RopeType::Yarn);
  EXPECT_EQ(config.rope.factor, 6.0);
  EXPECT_EQ(config.rope.original_max_position_embeddings, 128);
  EXPECT_EQ(config.rope.beta_fast, 16.0);
  EXPECT_EQ(config.rope.beta_slow, 2.0);
  EXPECT_FALSE(config.rope.truncate);
  EXPECT_EQ(config.rope_theta, 50000.0);
  EXPECT_EQ(config.rope.mscale, 0.7);
  EXPECT_EQ(config.rope.mscale_all_dim, 0.5);
  EXPECT_EQ(config.rope.attention_factor, 1.25);
  EXPECT_EQ(supported_window(config), 768);  // max(256, 6 * 128)

  auto llama3 = config_with(model::RopeType::Llama3);
  apply_rope_param(llama3, "low_freq_factor=2");
  apply_rope_param(llama3, "high_freq_factor=8");
  apply_rope_param(llama3, "original_max_position_embeddings=64");
  EXPECT_EQ(llama3.rope.low_freq_factor, 2.0);
  EXPECT_EQ(llama3.rope.high_freq_factor, 8.0);
  EXPECT_EQ(supported_window(llama3), 256);  // max(256, 4 * 64)
}

TEST(RopeParams, ErrorsNameTheFlagAndTheKey) {
  auto config = config_with(model::RopeType::Linear);
  expect_error([&] { apply_rope_param(config, "factor"); }, {"--rope-param", "key=value"});
  expect_error([&] { apply_rope_param(config, "=3"); }, {"--rope-param", "key=value"});
  expect_error([&] { apply_rope_param(config, "alpha=3"); },
               {"--rope-param", "unknown key 'alpha'", "factor", "beta_fast", "rope_theta", "truncate"});
  expect_error([&] { apply_rope_param(config, "factor=abc"); }, {"--rope-param factor", "'abc'"});
  expect_error([&] { apply_rope_param(config, "factor=-2"); }, {"--rope-param factor", "positive"});
  expect_error([&] { apply_rope_param(config, "original_max_position_embeddings=1.5"); },
               {"--rope-param original_max_position_embeddings", "integer"});
  expect_error([&] { apply_rope_param(config, "beta_fast=16"); }, {"--rope-param beta_fast", "linear"});
  auto yarn = config_with(model::RopeType::Yarn);
  expect_error([&] { apply_rope_param(yarn, "truncate=maybe"); }, {"--rope-param truncate", "'maybe'"});
  auto plain = test::retrieval_config();
  expect_error([&] { apply_rope_param(plain, "factor=2"); }, {"--rope-param factor", "default", "--rope-scaling"});
  // Each override is valid alone, the combination is not: validate() names the flags.
  auto llama3 = test::retrieval_config();
  expect_error(
      [&] { apply_rope_overrides(llama3, {std::string("llama3:4"), {"low_freq_factor=5", "high_freq_factor=4"}}); },
      {"--rope-scaling llama3:4 --rope-param low_freq_factor=5", "high_freq_factor"});
}

// An independent count: the full [T, vocab] logits of forward() on prompt + answer, top-1 at
// the rows that predict each answer token.
int64_t matches_from_full_logits(model::LlamaForCausalLMImpl& model, const std::vector<int32_t>& prompt,
                                 const std::vector<int32_t>& answer) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  ids.insert(ids.end(), answer.begin(), answer.end());
  const auto n = static_cast<int64_t>(ids.size());
  const auto logits = model.forward(torch::tensor(ids).unsqueeze(0), torch::arange(n).unsqueeze(0))[0];
  int64_t matched = 0;
  for (size_t j = 0; j < answer.size(); ++j)
    matched += logits[static_cast<int64_t>(prompt.size() + j) - 1].argmax().item<int64_t>() == answer[j] ? 1 : 0;
  return matched;
}

TEST(ForcedScoring, TokenAccuracyEqualsTheFullLogitsCount) {
  const auto config = test::retrieval_config();
  auto model = test::retrieval_model(config);
  const io::Tokenizer tokenizer(test::test_tokenizer());
  // A real passkey prompt and its key tokens.
  data::PasskeyOptions options;
  options.length = 300;
  options.depth_percent = 30;
  options.key = 31337;
  const auto prompt = data::build_passkey(tokenizer, options);
  ASSERT_FALSE(prompt.answer_ids.empty());
  const auto forced = score_forced(*model, prompt.ids, prompt.answer_ids);
  EXPECT_EQ(forced.total, static_cast<int64_t>(prompt.answer_ids.size()));
  EXPECT_EQ(forced.matched, matches_from_full_logits(*model, prompt.ids, prompt.answer_ids));

  // An answer made of the model's own greedy tokens then one wrong token: exactly the first
  // three match, so token accuracy is 3/4 and the key is not matched as a whole.
  GenerateOptions greedy;
  greedy.max_new_tokens = 4;
  const std::vector<int64_t> prompt64(prompt.ids.begin(), prompt.ids.end());
  const auto tokens = generate(*model, prompt64, greedy).tokens;
  ASSERT_EQ(tokens.size(), 4u);
  std::vector<int32_t> answer(tokens.begin(), tokens.begin() + 3);
  answer.push_back(static_cast<int32_t>((tokens[3] + 1) % config.vocab_size));
  const auto partial = score_forced(*model, prompt.ids, answer);
  EXPECT_EQ(partial.matched, 3);
  EXPECT_EQ(partial.matched, matches_from_full_logits(*model, prompt.ids, answer));
  EXPECT_FALSE(partial.all_matched());
  EXPECT_EQ(partial.predicted[3], tokens[3]);
  answer[3] = static_cast<int32_t>(tokens[3]);
  EXPECT_TRUE(score_forced(*model, prompt.ids, answer).all_matched());
}

TEST(GreedyDecoding, EqualsArgmaxOfTheFullLogitsStepByStep) {
  // generate() projects only the last prompt row; the reference projects every row.
  const auto config = test::retrieval_config();
  auto model = test::retrieval_model(config, 3);
  std::vector<int64_t> sequence = {1, 40, 41, 200, 17, 5, 99, 300};
  GenerateOptions options;
  options.max_new_tokens = 6;
  const auto generated = generate(*model, sequence, options).tokens;
  torch::NoGradGuard no_grad;
  for (const auto token : generated) {
    const auto n = static_cast<int64_t>(sequence.size());
    const auto logits = model->forward(torch::tensor(sequence).unsqueeze(0), torch::arange(n).unsqueeze(0));
    EXPECT_EQ(token, logits[0][-1].argmax().item<int64_t>());
    sequence.push_back(token);
  }
}

}  // namespace
}  // namespace cream::eval
