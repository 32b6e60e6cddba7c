// The main job through the binary, as a user runs it: tokenizer -> data prepare -> init
// -> train (CREAM) -> resume -> export -> eval ppl -> inspect. Small enough for CI.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;
using cream::test::contains;
using cream::test::document;
using cream::test::run_cream;

namespace {

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

std::string config_yaml(const fs::path& dir) {
  return "model:\n  path: " + (dir / "init").string() +
         "\n  dtype: fp32\n  device: cpu\n  threads: 1\n"
         "data:\n  train: " + (dir / "data").string() + "\n  valid: " + (dir / "data").string() +
         "\npositions:\n  method: cream\n  train_length: 16\n  target_length: 64\n  continuity_length: 2\n"
         "rope:\n  type: linear\n"
         "train:\n  steps: 6\n  global_batch: 4\n  micro_batch: 2\n  seed: 3\n"
         "optim:\n  name: adamw\n  lr: 1.0e-2\n"
         "schedule:\n  name: constant\n"
         "eval:\n  every: 3\n  lengths: [16, 64]\n  batches: 1\n"
         "checkpoint:\n  output_dir: " + (dir / "run").string() + "\n  every: 3\n  keep: 2\n"
         "log:\n  every: 1\n";
}

}  // namespace

TEST(Pipeline, TokenizeTrainResumeExportEvaluate) {
  const auto dir = cream::test::fresh_dir("pipeline");
  std::string corpus, jsonl;
  for (int d = 0; d < 40; ++d) {
    const auto text = document(d, d % 4 == 0 ? 120 : 30);
    corpus += text + "\n";
    jsonl += nlohmann::json({{"text", text}}).dump() + "\n";
  }
  write(dir / "corpus.txt", corpus);
  write(dir / "docs.jsonl", jsonl);
  const std::string spm = "spm_train --input=" + (dir / "corpus.txt").string() + " --model_prefix=" +
                          (dir / "tok").string() + " --vocab_size=60 --hard_vocab_limit=false --character_coverage=1.0 --num_threads=1 " +
                          "--minloglevel=2 >/dev/null 2>&1";
  ASSERT_EQ(std::system(spm.c_str()), 0);
  const auto tokenizer = (dir / "tok.model").string();

  auto prepare = run_cream("data prepare --tokenizer " + tokenizer + " --input " + (dir / "docs.jsonl").string() +
                           " --out " + (dir / "data").string() + " --quiet");
  ASSERT_EQ(prepare.status, 0) << prepare.output;
  auto init = run_cream("init --preset tiny --tokenizer " + tokenizer + " --out " + (dir / "init").string());
  ASSERT_EQ(init.status, 0) << init.output;
  write(dir / "exp.yaml", config_yaml(dir));

  auto dry = run_cream("train -c " + (dir / "exp.yaml").string() + " --dry-run");
  ASSERT_EQ(dry.status, 0) << dry.output;
  EXPECT_FALSE(fs::exists(dir / "run" / "step-000003")) << "--dry-run must not train";

  // Three steps, then resume to six (the trainer tests check bitwise equality).
  auto first = run_cream("train -c " + (dir / "exp.yaml").string() + " --set train.steps=3");
  ASSERT_EQ(first.status, 0) << first.output;
  ASSERT_TRUE(fs::exists(dir / "run" / "step-000003" / "COMPLETE"));
  auto refused = run_cream("train -c " + (dir / "exp.yaml").string() + " --resume --set positions.sigma=2.0");
  EXPECT_EQ(refused.status, 1) << "a changed sampler must be refused without --force";
  EXPECT_TRUE(contains(refused.stderr_text, "cream: error:") && contains(refused.stderr_text, "positions.sigma"))
      << refused.stderr_text;
  auto resumed = run_cream("train -c " + (dir / "exp.yaml").string() + " --resume");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  ASSERT_TRUE(fs::exists(dir / "run" / "step-000006" / "COMPLETE"));
  EXPECT_TRUE(fs::exists(dir / "run" / "metrics.jsonl"));

  const auto trained = nlohmann::json::parse(cream::util::read_text_file(dir / "run" / "step-000006" / "config.json"));
  EXPECT_EQ(trained["max_position_embeddings"], 64);
  EXPECT_EQ(trained["rope_scaling"]["rope_type"], "linear");
  EXPECT_DOUBLE_EQ(trained["rope_scaling"]["factor"].get<double>(), 4.0);

  auto exported = run_cream("export --checkpoint " + (dir / "run" / "step-000006").string() + " --out " +
                            (dir / "export").string() + " --dtype bf16");
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_TRUE(fs::exists(dir / "export" / "generation_config.json"));
  EXPECT_TRUE(fs::exists(dir / "export" / "tokenizer.model"));
  EXPECT_FALSE(fs::exists(dir / "export" / "trainer_state.json"));
  EXPECT_EQ(run_cream("inspect " + (dir / "export").string()).status, 0);

  auto ppl = run_cream("eval ppl --model " + (dir / "export").string() + " --data " + (dir / "data").string() +
                       " --lengths 16,64 --docs 5 --out " + (dir / "ppl.json").string());
  ASSERT_EQ(ppl.status, 0) << ppl.output;
  const auto record = nlohmann::json::parse(cream::util::read_text_file(dir / "ppl.json"));
  ASSERT_EQ(record["results"].size(), 2u);
  const auto vocab = nlohmann::json::parse(cream::util::read_text_file(dir / "export" / "config.json"))["vocab_size"];
  for (const auto& row : record["results"]) {
    EXPECT_GT(row["ppl_token"].get<double>(), 1.0);
    EXPECT_LT(row["ppl_token"].get<double>(), vocab.get<double>()) << "a trained model should beat a uniform guess";
  }
  fs::remove_all(dir);
}
