// Whole retrieval runs on a tiny random model with a real tokenizer: the JSON record's shape
// (what the plotting script reads), internal consistency of the numbers, reproducibility
// per cell, and the errors a user meets first.
#include <gtest/gtest.h>

#include <cmath>

#include "cream/eval/retrieval.h"
#include "retrieval_test_support.h"

namespace cream::eval {
namespace {

using cream::test::expect_error;
using nlohmann::json;
namespace fs = std::filesystem;

struct Fixture {
  test::TempDir root{"retrieval_run"};
  fs::path model = test::retrieval_model_folder(root.path);
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

RetrievalRequest request_for(RetrievalTask task, std::vector<int64_t> sizes, std::vector<double> depths) {
  RetrievalRequest request;
  request.model_folder = fixture().model.string();
  request.options.task = task;
  request.options.sizes = std::move(sizes);
  request.options.depths = std::move(depths);
  request.options.trials = 2;
  request.options.seed = 5;
  return request;
}

void expect_keys(const json& j, const std::vector<std::string>& keys) {
  for (const auto& key : keys) EXPECT_TRUE(j.contains(key)) << "missing \"" << key << "\" in " << j.dump().substr(0, 200);
}

// The fields every record carries, and the consistency of cells, summaries and totals.
void check_record(const json& r, const std::string& eval, const std::string& size_key, size_t cells,
                  int64_t window = 256) {
  expect_keys(r, {"eval", "model", "rope_scaling", "rope_theta", "rope_type", "rope_override", "rope_params",
                  "chat_template", "scoring", "variant", "seed", "trials", size_key, "depths",
                  "max_position_embeddings", "window", "cells", "by_depth", "accuracy", "tokens_per_s", "seconds",
                  "dtype", "device", "max_new_tokens"});
  EXPECT_EQ(r.at("eval"), eval);
  EXPECT_EQ(r.at("model"), fixture().model.string());
  EXPECT_EQ(r.at("seed"), 5);
  EXPECT_EQ(r.at("max_position_embeddings"), 256);
  EXPECT_EQ(r.at("window"), window);
  EXPECT_EQ(r.at("dtype"), "float32");
  EXPECT_EQ(r.at("device"), "cpu");
  ASSERT_EQ(r.at("cells").size(), cells);
  int64_t correct = 0, trials = 0;
  for (const auto& cell : r.at("cells")) {
    expect_keys(cell, {"length", "depth", "trials", "correct", "accuracy", "prompt_tokens", "tokens_per_s",
                       "samples", "token_depth"});
    EXPECT_EQ(cell.at("trials"), r.at("trials"));
    EXPECT_EQ(cell.at("samples").size(), r.at("trials").get<size_t>());
    EXPECT_DOUBLE_EQ(cell.at("accuracy").get<double>(),
                     cell.at("correct").get<double>() / cell.at("trials").get<double>());
    EXPECT_GT(cell.at("tokens_per_s").get<double>(), 0.0);
    correct += cell.at("correct").get<int64_t>();
    trials += cell.at("trials").get<int64_t>();
  }
  EXPECT_EQ(r.at("trials_total"), trials);
  EXPECT_DOUBLE_EQ(r.at("accuracy").get<double>(), static_cast<double>(correct) / trials);
  int64_t by_depth_trials = 0;
  for (const auto& row : r.at("by_depth")) by_depth_trials += row.at("trials").get<int64_t>();
  EXPECT_EQ(by_depth_trials, trials);
}

TEST(RetrievalRun, PasskeyGreedyRecord) {
  auto request = request_for(RetrievalTask::Passkey, {300, 400}, {0, 50, 100});
  using Report = std::pair<int64_t, int64_t>;
  std::vector<Report> reports;  // (trials done, cells done) after each trial
  request.progress = [&](const RetrievalProgress& p) {
    EXPECT_EQ(p.trials_total, 12);
    EXPECT_EQ(p.cells_total, 6);
    reports.emplace_back(p.trials_done, p.cells_done);
  };
  const auto r = run_retrieval(request);
  ASSERT_EQ(reports.size(), 12u);
  EXPECT_EQ(reports[0], Report(1, 0));
  EXPECT_EQ(reports[1], Report(2, 1));
  EXPECT_EQ(reports.back(), Report(12, 6));
  check_record(r, "passkey", "lengths", 6);
  EXPECT_EQ(r.at("scoring"), "greedy");
  EXPECT_EQ(r.at("variant"), "pose-filler-no-separator");
  EXPECT_EQ(r.at("chat_template"), "none");
  EXPECT_EQ(r.at("lengths"), json({300, 400}));
  EXPECT_EQ(r.at("depths"), json({0.0, 50.0, 100.0}));
  EXPECT_EQ(r.at("max_new_tokens"), 10);
  EXPECT_EQ(r.at("rope_override"), nullptr);
  ASSERT_EQ(r.at("by_length").size(), 2u);
  EXPECT_EQ(r.at("by_length")[1].at("length"), 400);
  const auto& cell = r.at("cells")[4];
  EXPECT_EQ(cell.at("length"), 400);
  EXPECT_EQ(cell.at("depth"), 50.0);
  // Prompts hit the requested length closely; every sample's verdict follows the rule.
  EXPECT_NEAR(cell.at("prompt_tokens").get<double>(), 400.0, 40.0);
  for (const auto& c : r.at("cells"))
    for (const auto& s : c.at("samples")) {
      const auto key = std::stoll(s.at("expected").get<std::string>());
      EXPECT_TRUE(key >= 1 && key <= 50000);
      EXPECT_EQ(s.at("correct").get<bool>(), first_integer(s.at("output").get<std::string>()) == key);
    }
}

TEST(RetrievalRun, PasskeyForcedRecordWithRopeOverride) {
  auto request = request_for(RetrievalTask::Passkey, {300}, {20, 80});
  request.options.scoring = Scoring::Forced;
  request.rope.scaling = "linear:2";
  request.rope.params = {"factor=3"};
  const auto r = run_retrieval(request);
  check_record(r, "passkey", "lengths", 2, 768);  // max(256, 3 * 256)
  EXPECT_EQ(r.at("scoring"), "forced");
  EXPECT_EQ(r.at("rope_override"), "linear:2");
  EXPECT_EQ(r.at("rope_params"), json({"factor=3"}));
  EXPECT_EQ(r.at("rope_scaling").at("factor"), 3.0);
  for (const auto& cell : r.at("cells")) {
    ASSERT_TRUE(cell.contains("token_accuracy"));
    const double accuracy = cell.at("token_accuracy").get<double>();
    EXPECT_TRUE(accuracy >= 0.0 && accuracy <= 1.0);
  }
  EXPECT_TRUE(r.contains("token_accuracy"));
}

TEST(RetrievalRun, LinesRecord) {
  test::TempDir words_root("retrieval_words");
  auto request = request_for(RetrievalTask::Lines, {5, 9}, {0, 100});
  request.words = test::word_list_folder(words_root.path);
  request.options.max_new_tokens = 8;
  const auto r = run_retrieval(request);
  check_record(r, "lines", "lines", 4);
  EXPECT_EQ(r.at("lines"), json({5, 9}));
  EXPECT_EQ(r.at("max_new_tokens"), 8);
  ASSERT_TRUE(r.contains("by_lines"));
  EXPECT_EQ(r.at("by_lines")[0].at("lines"), 5);
  const auto& cell = r.at("cells")[3];
  EXPECT_EQ(cell.at("lines"), 9);
  // lines cells report the prompt tokens reached as their length.
  EXPECT_DOUBLE_EQ(cell.at("length").get<double>(), cell.at("prompt_tokens").get<double>());
  EXPECT_GT(cell.at("prompt_tokens").get<double>(), r.at("cells")[0].at("prompt_tokens").get<double>());
  EXPECT_TRUE(r.at("words").get<std::string>().find("wordnet") != std::string::npos);
}

TEST(RetrievalRun, KeyValueRecord) {
  auto request = request_for(RetrievalTask::KeyValue, {4, 6}, {});
  request.options.gold_positions = {0, 3};
  request.options.max_new_tokens = 4;
  const auto r = run_retrieval(request);
  check_record(r, "kv", "pairs", 4);
  EXPECT_EQ(r.at("pairs"), json({4, 6}));
  EXPECT_EQ(r.at("depths"), json({0.0, 60.0, 100.0}));  // 3 of 3 -> 100, 3 of 5 -> 60
  ASSERT_EQ(r.at("gold_positions").size(), 4u);
  EXPECT_EQ(r.at("gold_positions")[3], json({{"pairs", 6}, {"gold_index", 3}, {"depth", 60.0}}));
  EXPECT_EQ(r.at("cells")[1].at("gold_index"), 3);
  EXPECT_EQ(r.at("cells")[1].at("pairs"), 4);
  ASSERT_TRUE(r.contains("by_pairs"));
  for (const auto& s : r.at("cells")[0].at("samples")) EXPECT_EQ(s.at("expected").get<std::string>().size(), 36u);
}

TEST(RetrievalRun, NeedleRecord) {
  test::TempDir hay_root("retrieval_hay");
  auto request = request_for(RetrievalTask::Needle, {300, 360}, {0, 50, 100});
  request.haystack = test::haystack_file(hay_root.path);
  request.options.trials = 1;
  request.options.max_new_tokens = 6;
  const auto r = run_retrieval(request);
  check_record(r, "needle", "lengths", 6);
  for (const auto& cell : r.at("cells")) {
    expect_keys(cell, {"rouge_l_f1", "strict_hit"});
    EXPECT_EQ(cell.at("strict_hit"), cell.at("accuracy"));
    EXPECT_EQ(cell.at("samples")[0].at("expected"), data::kDefaultNeedle);
  }
  expect_keys(r, {"rouge_l_f1", "strict_hit", "haystack", "needle", "by_length"});
  EXPECT_TRUE(r.at("window") == 256);  // 300 and 360 are beyond it: allowed, with a warning
}

TEST(RetrievalRun, ACellDoesNotDependOnWhichOtherCellsRan) {
  auto both = request_for(RetrievalTask::Passkey, {300, 400}, {0, 50});
  auto one = request_for(RetrievalTask::Passkey, {400}, {50});
  const auto a = run_retrieval(both), b = run_retrieval(one);
  EXPECT_EQ(a.at("cells")[3].at("samples"), b.at("cells")[0].at("samples"));
  EXPECT_NE(a.at("cells")[0].at("samples"), a.at("cells")[1].at("samples"));
  one.options.seed = 6;
  EXPECT_NE(run_retrieval(one).at("cells")[0].at("samples"), b.at("cells")[0].at("samples"));
}

TEST(RetrievalRun, ErrorsComeBeforeTheModelRuns) {
  test::TempDir root("retrieval_errors");
  auto request = request_for(RetrievalTask::Passkey, {300}, {50});
  request.model_folder = test::retrieval_model_folder(root.path, false).string();
  expect_error([&] { run_retrieval(request); }, {request.model_folder, "tokenizer.model"});
  request = request_for(RetrievalTask::Passkey, {300}, {50, 120});
  expect_error([&] { run_retrieval(request); }, {"--depths", "120"});
  request = request_for(RetrievalTask::Passkey, {300}, {50});
  request.rope.params = {"beta_fast=8"};
  expect_error([&] { run_retrieval(request); }, {"--rope-param beta_fast"});
  test::TempDir hay_root("retrieval_errors_hay");
  request = request_for(RetrievalTask::Needle, {20}, {50});
  request.haystack = test::haystack_file(hay_root.path);
  expect_error([&] { run_retrieval(request); }, {"needle", "20"});
  request = request_for(RetrievalTask::KeyValue, {10}, {});
  request.options.gold_positions = {10};
  expect_error([&] { run_retrieval(request); }, {"--gold-positions", "10"});
}

}  // namespace
}  // namespace cream::eval
