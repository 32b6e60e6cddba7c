// End-to-end behaviour of `cream init`, `cream inspect` and `cream logits`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/io/safetensors.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;
using cream::test::contains;
using cream::test::run_cream;

namespace {

std::string file_bytes(const fs::path& path) { return cream::util::read_text_file(path); }

class ModelCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cream::test::fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

}  // namespace

TEST_F(ModelCommands, InitWritesAnHfFolderThatInspectAccepts) {
  auto init = run_cream("init --preset tiny --out " + (dir_ / "m").string() + " --seed 3");
  ASSERT_EQ(init.status, 0) << init.output;
  EXPECT_TRUE(fs::exists(dir_ / "m" / "config.json"));
  EXPECT_TRUE(fs::exists(dir_ / "m" / "model.safetensors"));
  const auto config = nlohmann::json::parse(file_bytes(dir_ / "m" / "config.json"));
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["architectures"][0], "LlamaForCausalLM");

  auto inspect = run_cream("inspect " + (dir_ / "m").string());
  EXPECT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "no problems found")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "parameters")) << inspect.output;
}

TEST_F(ModelCommands, InitIsDeterministicBySeedAndRefusesToOverwrite) {
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "a").string() + " --seed 7").status, 0);
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "b").string() + " --seed 7").status, 0);
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "c").string() + " --seed 8").status, 0);
  EXPECT_EQ(file_bytes(dir_ / "a" / "model.safetensors"), file_bytes(dir_ / "b" / "model.safetensors"));
  EXPECT_NE(file_bytes(dir_ / "a" / "model.safetensors"), file_bytes(dir_ / "c" / "model.safetensors"));
  const auto before = file_bytes(dir_ / "a" / "model.safetensors");
  auto again = run_cream("init --preset tiny --out " + (dir_ / "a").string() + " --seed 9");
  EXPECT_NE(again.status, 0);
  EXPECT_TRUE(contains(again.stderr_text, "already exists")) << again.output;
  EXPECT_EQ(cream::test::line_count(again.stderr_text), 1) << "nothing before the error: " << again.stderr_text;
  EXPECT_EQ(file_bytes(dir_ / "a" / "model.safetensors"), before) << "existing weights must stay intact";
}

TEST_F(ModelCommands, InitBf16AndShardedOutput) {
  auto init = run_cream("init --preset tiny --out " + (dir_ / "m").string() + " --dtype bf16 --shard-size 20KB");
  ASSERT_EQ(init.status, 0) << init.output;
  EXPECT_TRUE(fs::exists(dir_ / "m" / "model.safetensors.index.json"));
  cream::io::CheckpointFolder weights(dir_ / "m");
  EXPECT_GT(weights.files().size(), 1u);
  for (const auto& name : weights.names()) EXPECT_EQ(weights.info(name).dtype, cream::io::DType::BF16) << name;
  EXPECT_EQ(run_cream("inspect " + (dir_ / "m").string()).status, 0);
}

TEST_F(ModelCommands, InspectListsEveryProblemAndFails) {
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "m").string()).status, 0);
  auto config = nlohmann::json::parse(file_bytes(dir_ / "m" / "config.json"));
  config["num_hidden_layers"] = config["num_hidden_layers"].get<int>() + 1;  // a layer the weights lack
  config["intermediate_size"] = config["intermediate_size"].get<int>() * 2;  // every MLP mis-shaped
  std::ofstream(dir_ / "m" / "config.json") << config.dump();
  auto inspect = run_cream("inspect " + (dir_ / "m").string());
  EXPECT_EQ(inspect.status, 1);
  EXPECT_TRUE(contains(inspect.output, "missing")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "mlp.gate_proj.weight")) << inspect.output;
  EXPECT_TRUE(contains(inspect.output, "problem")) << inspect.output;
}

TEST_F(ModelCommands, InspectReportsABrokenSafetensorsFile) {
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "m").string()).status, 0);
  fs::resize_file(dir_ / "m" / "model.safetensors", fs::file_size(dir_ / "m" / "model.safetensors") - 3);
  auto inspect = run_cream("inspect " + (dir_ / "m").string());
  EXPECT_EQ(inspect.status, 1);
  EXPECT_TRUE(contains(inspect.output, "model.safetensors")) << inspect.output;
}

TEST_F(ModelCommands, LogitsWritesFloat32TimesVocab) {
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "m").string()).status, 0);
  const auto out = dir_ / "logits.safetensors";
  auto logits = run_cream("logits --model " + (dir_ / "m").string() + " --tokens \"1 5 9\" --positions \"0 700 262143\" --out " +
                          out.string());
  ASSERT_EQ(logits.status, 0) << logits.output;
  cream::io::SafetensorsFile file(out);
  const auto* info = file.find("logits");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->dtype, cream::io::DType::F32);
  const auto config = nlohmann::json::parse(file_bytes(dir_ / "m" / "config.json"));
  EXPECT_EQ(info->shape, (std::vector<int64_t>{3, config["vocab_size"].get<int64_t>()}));
}

TEST_F(ModelCommands, LogitsErrorsAreOneLineAndLeaveNoOutput) {
  ASSERT_EQ(run_cream("init --preset tiny --out " + (dir_ / "m").string()).status, 0);
  const auto out = dir_ / "logits.safetensors";
  const std::string base = "logits --model " + (dir_ / "m").string() + " --out " + out.string();
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {" --tokens \"1 5\" --positions \"0\"", "--positions"},
           {" --tokens \"1 x\"", "--tokens"},
           {" --tokens \"1 99999999\"", "vocabulary"},
           {" --tokens \"1 2\" --positions \"0 -4\"", "negative"},
       }) {
    auto result = run_cream(base + args);
    EXPECT_EQ(result.status, 1) << args;
    EXPECT_EQ(cream::test::line_count(result.stderr_text), 1) << result.stderr_text;
    EXPECT_TRUE(contains(result.stderr_text, expected)) << result.stderr_text;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
  auto missing = run_cream("logits --model " + (dir_ / "nope").string() + " --tokens 1 --out " + out.string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_EQ(cream::test::line_count(missing.stderr_text), 1) << missing.stderr_text;
  EXPECT_TRUE(contains(missing.stderr_text, "nope")) << missing.stderr_text;
}

TEST(Cli, EveryCommandHasHelpAndUnknownInputIsOneLine) {
  for (const char* command : {"init", "inspect", "logits", "positions", "data", "version", "train", "export", "eval",
                              "eval ppl", "data prepare", "generate"}) {
    auto help = run_cream(std::string(command) + " --help");
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_TRUE(contains(help.output, "--help")) << command;
  }
  auto misspelt = run_cream("trian -c x.yaml");
  EXPECT_EQ(misspelt.status, 1);
  EXPECT_TRUE(contains(misspelt.stderr_text, "unknown command 'trian' (did you mean 'train'?)"))
      << misspelt.stderr_text;
  auto far = run_cream("frobnicate");
  EXPECT_EQ(far.status, 1);
  EXPECT_FALSE(contains(far.stderr_text, "did you mean")) << far.stderr_text;
  EXPECT_TRUE(contains(far.stderr_text, "commands: ")) << far.stderr_text;
  auto unknown = run_cream("init --preset tiny --bogus-flag 1 --out /tmp/x");
  EXPECT_NE(unknown.status, 0);
  EXPECT_EQ(cream::test::line_count(unknown.stderr_text), 1) << unknown.stderr_text;
  auto preset = run_cream("init --preset nosuch --out /tmp/cream_never_written");
  EXPECT_EQ(preset.status, 1);
  EXPECT_TRUE(contains(preset.stderr_text, "tiny")) << "the error should list valid presets: " << preset.stderr_text;
  EXPECT_FALSE(fs::exists("/tmp/cream_never_written"));
}
