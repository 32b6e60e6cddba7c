// A user's first real run, row by row: each test reproduces one row of the table of
// "what was run / what happened" that a new user reported, through the built binary, and
// checks what happens now. Tiny model and data, built once; the file runs in well under
// a minute.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;
using cream::test::contains;
using cream::test::document;
using cream::test::line_count;
using cream::test::run_cream;

namespace {

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(cream::util::read_text_file(path)); }

bool have(const char* program) {
  return std::system(("command -v " + std::string(program) + " >/dev/null 2>&1").c_str()) == 0;
}

// Tokenizer, prepared data and a tiny init model (window 512), built once.
struct Workspace {
  fs::path dir, tokenizer, data, model;
  std::string error;
};

const Workspace& workspace() {
  static const Workspace ws = [] {
    Workspace w;
    w.dir = cream::test::fresh_dir("first_run");
    std::string corpus, jsonl;
    for (int d = 0; d < 30; ++d) {
      corpus += document(d, 400) + "\n";
      jsonl += nlohmann::json({{"text", document(d, 400)}}).dump() + "\n";
    }
    write(w.dir / "corpus.txt", corpus);
    write(w.dir / "docs.jsonl", jsonl);
    const std::string spm = "spm_train --input=" + (w.dir / "corpus.txt").string() + " --model_prefix=" +
                            (w.dir / "tok").string() +
                            " --vocab_size=80 --hard_vocab_limit=false --character_coverage=1.0 --num_threads=1"
                            " --minloglevel=2 >/dev/null 2>&1";
    if (std::system(spm.c_str()) != 0) return w.error = "spm_train failed", w;
    w.tokenizer = w.dir / "tok.model", w.data = w.dir / "data", w.model = w.dir / "init";
    for (const std::string args :
         {"data prepare --tokenizer " + w.tokenizer.string() + " --input " + (w.dir / "docs.jsonl").string() +
              " --out " + w.data.string() + " --quiet",
          "init --preset tiny --tokenizer " + w.tokenizer.string() + " --out " + w.model.string()}) {
      const auto result = run_cream(args);
      if (result.status != 0) return w.error = args + ": " + result.output, w;
    }
    return w;
  }();
  // Removed when the test program exits (kept with CREAM_KEEP_TEST_DIR, to debug by hand).
  static const struct RemoveAtExit {
    fs::path dir;
    ~RemoveAtExit() {
      std::error_code ignored;
      if (!std::getenv("CREAM_KEEP_TEST_DIR")) fs::remove_all(dir, ignored);
    }
  } cleanup{ws.dir};
  return ws;
}

// A training config into `run`, `steps` steps (CREAM 64 -> 256, linear x4, fp32, one thread).
fs::path write_config(const fs::path& run, int64_t steps, const std::string& name) {
  const auto& w = workspace();
  const auto path = w.dir / (name + ".yaml");
  write(path, "model:\n  path: " + w.model.string() + "\n  dtype: fp32\n  device: cpu\n  threads: 1\n" +
                  "data:\n  train: " + w.data.string() + "\n  valid: " + w.data.string() +
                  "\npositions:\n  method: cream\n  train_length: 64\n  target_length: 256\n" +
                  "rope:\n  type: linear\ntrain:\n  steps: " + std::to_string(steps) +
                  "\n  global_batch: 2\n  micro_batch: 2\n  seed: 1\noptim:\n  name: adamw\n  lr: 1.0e-3\n" +
                  "schedule:\n  name: constant\neval:\n  every: 1000000\n  lengths: [64]\n  batches: 1\n" +
                  "checkpoint:\n  output_dir: " + run.string() + "\n  every: 2\n  keep: 2\nlog:\n  every: 1\n");
  return path;
}

// Starts `cream ARGS` in the background and returns its pid (output into `log`).
int start_cream(const std::string& args, const fs::path& log) {
  const auto launched = run_cream(args + " >" + log.string() + " 2>&1 & echo $!");
  return std::stoi(launched.output);
}

void wait_until_gone(int pid) {
  while (::kill(pid, 0) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

bool wait_for(const fs::path& path, double seconds) {
  for (int i = 0; i < static_cast<int>(seconds * 20); ++i) {
    if (fs::exists(path) && fs::file_size(path) > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int64_t newest_complete_step(const fs::path& run) {
  int64_t newest = 0;
  for (const auto& entry : fs::directory_iterator(run)) {
    const auto name = entry.path().filename().string();
    if (name.rfind("step-", 0) == 0 && fs::exists(entry.path() / "COMPLETE"))
      newest = std::max<int64_t>(newest, std::stoll(name.substr(5)));
  }
  return newest;
}

#define REQUIRE_WORKSPACE() ASSERT_TRUE(workspace().error.empty()) << workspace().error

// Row: two `cream train` runs with the same output_dir, started together.
TEST(FirstRun, ASecondTrainIntoTheSameFolderIsRefusedAndKill9LeavesNoLock) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto run = w.dir / "shared-run";
  const auto config = write_config(run, 100000, "long");
  const int pid = start_cream("train -c " + config.string(), w.dir / "first.log");
  ASSERT_TRUE(wait_for(run / "metrics.jsonl", 60)) << cream::util::read_text_file(w.dir / "first.log");

  const auto second = run_cream("train -c " + config.string() + " --resume");
  EXPECT_EQ(second.status, 1);
  EXPECT_EQ(line_count(second.stderr_text), 1) << second.stderr_text;
  EXPECT_TRUE(contains(second.stderr_text, "in use") && contains(second.stderr_text, std::to_string(pid)))
      << second.stderr_text;

  ::kill(pid, SIGKILL);  // no chance to clean up: the lock must still not outlive the process
  wait_until_gone(pid);
  const auto metrics = cream::util::read_text_file(run / "metrics.jsonl");
  std::istringstream lines(metrics);
  std::string line;
  int whole = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_NO_THROW((void)nlohmann::json::parse(line)) << "not JSON: " << line;
    ++whole;
  }
  EXPECT_GT(whole, 0);
  const int64_t resumed_to = newest_complete_step(run) + 2;
  const auto third = run_cream("train -c " + config.string() + " --resume --set train.steps=" + std::to_string(resumed_to));
  EXPECT_EQ(third.status, 0) << third.output;
  EXPECT_EQ(newest_complete_step(run), resumed_to);
}

// Row: `data prepare --input train.jsonl.zst` (also .gz, or a binary file).
TEST(FirstRun, CompressedCorporaAreReadAndBinaryIsRefused) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  if (!have("gzip") || !have("zstd")) GTEST_SKIP() << "gzip or zstd not installed";
  const auto dir = w.dir / "compressed";
  fs::create_directories(dir);
  ASSERT_EQ(std::system(("gzip -c " + (w.dir / "docs.jsonl").string() + " > " + (dir / "docs.jsonl.gz").string() +
                         " && zstd -q -c " + (w.dir / "docs.jsonl").string() + " > " + (dir / "docs.jsonl.zst").string() +
                         " && cp " + (dir / "docs.jsonl.zst").string() + " " + (dir / "named-plain.jsonl").string())
                            .c_str()),
            0);
  const auto plain_tokens = read_json(w.data / "manifest.json").at("tokens");
  for (const char* input : {"docs.jsonl.gz", "docs.jsonl.zst", "named-plain.jsonl"}) {
    const auto out = dir / (std::string("out-") + input);
    const auto prepared = run_cream("data prepare --tokenizer " + w.tokenizer.string() + " --input " +
                                    (dir / input).string() + " --out " + out.string() + " --quiet");
    ASSERT_EQ(prepared.status, 0) << input << ": " << prepared.output;
    EXPECT_EQ(read_json(out / "manifest.json").at("tokens"), plain_tokens) << input;
  }
  std::string binary = "PK\x03\x04";
  for (int i = 0; i < 4096; ++i) binary.push_back(static_cast<char>((i * 131 + 7) % 256));
  write(dir / "train.bin.jsonl", binary);
  const auto refused = run_cream("data prepare --tokenizer " + w.tokenizer.string() + " --input " +
                                 (dir / "train.bin.jsonl").string() + " --out " + (dir / "out-bin").string());
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(line_count(refused.stderr_text), 1) << refused.stderr_text;
  EXPECT_TRUE(contains(refused.stderr_text, "train.bin.jsonl") && contains(refused.stderr_text, "byte"))
      << refused.stderr_text;
  EXPECT_FALSE(fs::exists(dir / "out-bin"));
}

// Row: `eval ppl ... --out /nonexistent/dir/ppl.json`. A missing folder is created (as
// root it always can be), so the unwritable place here is a folder under a plain file.
TEST(FirstRun, AnUnwritableOutIsRefusedBeforeAnyWork) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  write(w.dir / "a-file", "not a folder\n");
  const auto out = w.dir / "a-file" / "dir" / "ppl.json";
  const auto result = run_cream("eval ppl --model " + w.model.string() + " --data " + w.data.string() +
                                " --lengths 64 --out " + out.string());
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(line_count(result.stderr_text), 1) << result.stderr_text;
  EXPECT_TRUE(contains(result.stderr_text, "a-file/dir")) << result.stderr_text;
  EXPECT_FALSE(contains(result.output, "documents")) << "no document may be evaluated: " << result.output;
}

// Row: `eval ppl --mode sliding` over many documents, SIGTERM while it runs.
TEST(FirstRun, SigtermDuringASlidingEvalWritesPartialResultsAndShowsTheEta) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto out = w.dir / "sliding.json", log = w.dir / "sliding.log";
  const int pid = start_cream("eval ppl --model " + w.model.string() + " --data " + w.data.string() +
                                  " --lengths 64,128,256 --mode sliding --stride 1 --docs 0 --threads 1 --out " +
                                  out.string(),
                              log);
  bool progressed = false;
  for (int i = 0; i < 600 && !progressed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    progressed = contains(cream::util::read_text_file(log), "ETA");
  }
  ::kill(pid, SIGTERM);
  wait_until_gone(pid);
  const auto text = cream::util::read_text_file(log);
  EXPECT_TRUE(progressed && contains(text, "elapsed")) << text;
  ASSERT_TRUE(fs::exists(out)) << text;
  EXPECT_TRUE(read_json(out).at("partial").get<bool>());
  EXPECT_TRUE(contains(text, "stopped by signal 15")) << text;
}

// Row: the README, as a user holding a Llama-2-7B folder.
TEST(FirstRun, TheReadmeLeadsToAWalkthroughThatAnswersTheFirstQuestions) {
  const fs::path source(CREAM_SOURCE_DIR);
  EXPECT_TRUE(contains(cream::util::read_text_file(source / "README.md"), "docs/walkthrough.md"));
  const auto walkthrough = cream::util::read_text_file(source / "docs" / "walkthrough.md");
  for (const char* answer : {"--dry-run", "GiB", "131M tokens", "--format sharegpt", "--chat-template llama2",
                             "cream export", "cream eval ppl", "cream eval passkey", "--resume", "CUDA"})
    EXPECT_TRUE(contains(walkthrough, answer)) << "docs/walkthrough.md does not say " << answer;
  EXPECT_TRUE(fs::exists(source / "scripts" / "walkthrough_smoke.sh"));
}

// Row: `export --checkpoint runs/x` and `generate --model runs/x` (a run folder).
TEST(FirstRun, ARunFolderStandsForItsNewestCompleteCheckpoint) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto run = w.dir / "short-run";
  const auto trained = run_cream("train -c " + write_config(run, 4, "short").string());
  ASSERT_EQ(trained.status, 0) << trained.output;
  const auto exported = run_cream("export --checkpoint " + run.string() + " --out " + (w.dir / "exported").string());
  ASSERT_EQ(exported.status, 0) << exported.output;
  EXPECT_TRUE(contains(exported.output, "step-000004")) << "the command says which checkpoint: " << exported.output;
  EXPECT_TRUE(fs::exists(w.dir / "exported" / "config.json"));
  const auto generated = run_cream("generate --model " + run.string() + " --prompt 'the model' --max-new-tokens 3");
  ASSERT_EQ(generated.status, 0) << generated.output;
  EXPECT_TRUE(contains(generated.output, "step-000004")) << generated.output;
  const auto inspected = run_cream("inspect " + run.string());
  EXPECT_EQ(inspected.status, 0) << inspected.output;
  EXPECT_TRUE(contains(inspected.output, "step-000004")) << inspected.output;
  // And as the model.path a new run starts from.
  const auto next = run_cream("train -c " + write_config(w.dir / "next-run", 2, "next").string() +
                              " --set model.path=" + run.string());
  ASSERT_EQ(next.status, 0) << next.output;
  EXPECT_TRUE(contains(next.output, "model.path: " + run.string() + " is a run folder") &&
              contains(next.output, "step-000004"))
      << next.output;
}

// Section 5 of the issue: --resume that finds nothing to resume is a warning.
TEST(FirstRun, ResumeWithNothingToResumeWarnsAndStartsFromStepZero) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto run = w.dir / "fresh-resume";
  const auto trained = run_cream("train -c " + write_config(run, 2, "fresh-resume").string() + " --resume");
  ASSERT_EQ(trained.status, 0) << trained.output;
  EXPECT_TRUE(std::regex_search(trained.stderr_text, std::regex("warn.*--resume: no complete checkpoint")))
      << trained.stderr_text;
  EXPECT_EQ(newest_complete_step(run), 2);
}

// Row: `train ... --set model.device=auto` on a CPU-only build with a 7B config.
TEST(FirstRun, ThePlanNamesItsDeviceAndDtypeAndWarnsOfA7BOnTheCpu) {
  const std::string config = std::string(CREAM_SOURCE_DIR) + "/configs/llama2-7b-cream-linear-32k.yaml";
  const auto plan = run_cream("train -c " + config + " --set model.device=auto --dry-run");
  ASSERT_EQ(plan.status, 0) << plan.output;
  EXPECT_TRUE(std::regex_search(plan.output, std::regex("plans for: cpu.*model.device auto.*model.dtype bf16"))) << plan.output;
  EXPECT_TRUE(contains(plan.stderr_text, "warn") && contains(plan.stderr_text, "CPU")) << plan.stderr_text;
}

// Row: `train -c tiny-pretrain.yaml --dry-run` planned another vocabulary than the run.
TEST(FirstRun, TheDryRunCountsTheParametersTheRunWillHave) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto tiny = std::string(CREAM_SOURCE_DIR) + "/configs/tiny-pretrain.yaml";
  const std::string sets = " --set model.tokenizer=" + w.tokenizer.string() + " --set data.train=" + w.data.string() +
                           " --set data.valid=" + w.data.string() + " --set checkpoint.output_dir=" +
                           (w.dir / "tiny-pretrain").string() +
                           " --set train.steps=1 --set eval.every=1 --set schedule.warmup_steps=0";
  const auto plan = run_cream("train -c " + tiny + sets + " --dry-run");
  ASSERT_EQ(plan.status, 0) << plan.output;
  const auto trained = run_cream("train -c " + tiny + sets);
  ASSERT_EQ(trained.status, 0) << trained.output;
  const auto config = read_json(w.dir / "tiny-pretrain" / "step-000001" / "config.json");
  const auto vocab = config.at("vocab_size").get<int64_t>();
  EXPECT_TRUE(contains(plan.output, "vocab " + std::to_string(vocab))) << "run vocab " << vocab << "\n" << plan.output;
  std::smatch planned, ran;
  const std::regex parameters("([0-9,]+) parameters");
  ASSERT_TRUE(std::regex_search(plan.output, planned, parameters)) << plan.output;
  ASSERT_TRUE(std::regex_search(trained.output, ran, parameters)) << trained.output;
  EXPECT_EQ(planned[1], ran[1]);
}

// Row: several errors (`init` into an existing folder, a missing model.path, `inspect`
// on a damaged file) printed info lines first, or put the problems on stdout.
TEST(FirstRun, AnErrorIsOneLineOnStderrWithNothingBefore) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto existing = run_cream("init --preset tiny --tokenizer " + w.tokenizer.string() + " --out " + w.model.string());
  const auto missing = run_cream("train -c " + write_config(w.dir / "never", 2, "missing").string() +
                                 " --set model.path=" + (w.dir / "no-such-model").string());
  for (const auto& result : {existing, missing}) {
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.stderr_text, result.output) << "nothing on stdout: " << result.output;
    EXPECT_EQ(line_count(result.stderr_text), 1) << result.stderr_text;
    EXPECT_EQ(result.stderr_text.rfind("cream: error:", 0), 0u) << result.stderr_text;
  }
  const auto damaged = w.dir / "damaged";
  fs::create_directories(damaged);
  fs::copy(w.model / "config.json", damaged / "config.json", fs::copy_options::overwrite_existing);
  write(damaged / "model.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{\"broken\": tru");
  const auto inspected = run_cream("inspect " + damaged.string());
  EXPECT_NE(inspected.status, 0);
  EXPECT_TRUE(contains(inspected.stderr_text, "model.safetensors")) << "the problem goes to stderr: "
                                                                     << inspected.stderr_text;
}

// Row: `cream positions --continuity-length 0` was refused although YAML takes 0.
TEST(FirstRun, FlagsTakeTheValuesTheirYamlKeysTakeAndErrorsNameTheFlag) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const std::string positions = "positions --train-length 64 --target-length 256 --samples 50 --seed 3";
  const auto zero = run_cream(positions + " --continuity-length 0 --stats " + (w.dir / "zero.json").string());
  const auto unset = run_cream(positions + " --stats " + (w.dir / "unset.json").string());
  ASSERT_EQ(zero.status, 0) << zero.output;
  ASSERT_EQ(unset.status, 0) << unset.output;
  EXPECT_EQ(read_json(w.dir / "zero.json"), read_json(w.dir / "unset.json")) << "0 means the default, as in YAML";
  const auto too_long = run_cream(positions + " --continuity-length 40");
  EXPECT_EQ(too_long.status, 1);
  EXPECT_TRUE(contains(too_long.stderr_text, "--continuity-length") &&
              !contains(too_long.stderr_text, "positions.continuity_length"))
      << too_long.stderr_text;

  // The YAML side takes the flags' spellings: model.dtype bfloat16 as --dtype bfloat16.
  const auto config = write_config(w.dir / "never", 2, "dtype");
  const auto dtype = run_cream("train -c " + config.string() + " --set model.dtype=bfloat16 --dry-run");
  EXPECT_EQ(dtype.status, 0) << dtype.output;
  // And the flags take the YAML's: --checkpointing true as train.activation_checkpointing: true.
  const auto bench = run_cream("bench --preset tiny --seq 32 --steps 1 --warmup 0 --dtype fp32 --device cpu "
                               "--threads 1 --checkpointing true");
  EXPECT_EQ(bench.status, 0) << bench.output;
  const auto bad_device = run_cream("eval ppl --model " + w.model.string() + " --data " + w.data.string() +
                                    " --lengths 64 --device gpu0");
  EXPECT_EQ(bad_device.status, 1);
  EXPECT_TRUE(contains(bad_device.stderr_text, "--device") && contains(bad_device.stderr_text, "gpu0"))
      << bad_device.stderr_text;
}

// Row: `eval passkey --lengths 512` gave 519-token prompts, past the window.
TEST(FirstRun, PasskeyPromptsFitTheRequestedLengthAndGenerateWarnsPastTheWindow) {
  REQUIRE_WORKSPACE();
  const auto& w = workspace();
  const auto out = w.dir / "passkey.json";
  const auto passkey = run_cream("eval passkey --model " + w.model.string() +
                                 " --lengths 200,512 --depths 0,50,100 --trials 2 --threads 1 --out " + out.string());
  ASSERT_EQ(passkey.status, 0) << passkey.output;
  EXPECT_FALSE(contains(passkey.output, "beyond the model's window")) << passkey.output;
  for (const auto& cell : read_json(out).at("cells")) {
    const auto length = cell.at("length").get<double>();
    EXPECT_LE(cell.at("prompt_tokens").get<double>(), length) << cell.dump();
    EXPECT_GE(cell.at("prompt_tokens").get<double>(), length * 0.9) << cell.dump();
  }
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "the model reads ";
  const auto past = run_cream("generate --model " + w.model.string() + " --prompt '" + long_prompt +
                              "' --max-new-tokens 2 --threads 1");
  EXPECT_EQ(past.status, 0) << past.output;
  EXPECT_TRUE(contains(past.stderr_text, "beyond the model's window")) << past.stderr_text;
}

}  // namespace
