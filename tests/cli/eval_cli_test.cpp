// Issue 5 end to end through the binary: every `cream eval` subcommand and `cream generate`
// on (a) a fresh model from `cream init --tokenizer` and (b) a checkpoint written by
// `cream train`. Each eval writes its record with --out; the test reads the records back
// and checks their shape, the beyond-the-window warning (expected from the record's own
// prompt sizes and window), that scripts/plot_eval.py draws them, and the one-line
// errors on bad input. Sizes are tiny: the whole file runs in well under a minute.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "cream/util/fs.h"

namespace fs = std::filesystem;
using cream::test::CommandResult;
using cream::test::contains;
using cream::test::line_count;
using cream::test::run_cream;

namespace {

const std::vector<std::string> kRetrievalEvals = {"passkey", "lines", "kv", "needle"};
const char* const kWarning = "is beyond the model's window of";

// Prose-like text with numbers, deterministic by seed; it trains the tokenizer, fills the
// prepared data and serves as the needle's haystack (so no perl-doc is needed).
std::string document(uint64_t seed, int words) {
  static const char* kWords[] = {"the", "model", "reads", "a", "long", "context", "and", "finds", "its",
                                 "key", "in", "middle", "of", "text", "window", "position", "pass", "is",
                                 "remember", "it", "number", "line", "value", "what", "grass", "sky"};
  std::string text;
  uint64_t x = seed + 1;
  for (int w = 0; w < words; ++w) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((x >> 60) == 0)
      text += std::to_string((x >> 20) % 100000);
    else
      text += kWords[(x >> 33) % 26];
    text += (w % 12 == 11) ? ".\n" : " ";
  }
  return text;
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

nlohmann::json read_json(const fs::path& path) {
  return nlohmann::json::parse(cream::util::read_text_file(path));
}

bool matplotlib_available() {
  static const bool available = std::system((std::string(CREAM_PYTHON) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0;
  return available;
}

// Train config: CREAM from a 64-token window to 256 (linear rope), three steps.
std::string config_yaml(const fs::path& dir) {
  return "model:\n  path: " + (dir / "init").string() +
         "\n  dtype: fp32\n  device: cpu\n  threads: 1\n"
         "data:\n  train: " + (dir / "data").string() + "\n  valid: " + (dir / "data").string() +
         "\npositions:\n  method: cream\n  train_length: 64\n  target_length: 256\n  continuity_length: 4\n"
         "rope:\n  type: linear\n"
         "train:\n  steps: 3\n  global_batch: 2\n  micro_batch: 2\n  seed: 5\n"
         "optim:\n  name: adamw\n  lr: 1.0e-2\n"
         "schedule:\n  name: constant\n"
         "eval:\n  every: 3\n  lengths: [64]\n  batches: 1\n"
         "checkpoint:\n  output_dir: " + (dir / "run").string() + "\n  every: 3\n  keep: 1\n"
         "log:\n  every: 1\n";
}

// Tokenizer, prepared data, an init model (window 512) and a trained checkpoint (window
// 256), built once for the whole suite.
struct Workspace {
  fs::path dir, haystack, init_model, trained_model;
  std::string setup_error;  // empty when every step succeeded
};

Workspace build_workspace() {
  Workspace w;
  w.dir = cream::test::fresh_dir("eval");
  std::string corpus, jsonl;
  for (int d = 0; d < 40; ++d) {
    const auto text = document(d, 1200);
    corpus += text + "\n";
    jsonl += nlohmann::json({{"text", text}}).dump() + "\n";
  }
  write(w.dir / "corpus.txt", corpus);
  write(w.dir / "docs.jsonl", jsonl);
  write(w.dir / "exp.yaml", config_yaml(w.dir));
  w.haystack = w.dir / "corpus.txt";
  const std::string spm = "spm_train --input=" + (w.dir / "corpus.txt").string() + " --model_prefix=" +
                          (w.dir / "tok").string() +
                          " --vocab_size=120 --hard_vocab_limit=false --character_coverage=1.0 --num_threads=1"
                          " --minloglevel=2 >/dev/null 2>&1";
  if (std::system(spm.c_str()) != 0) {
    w.setup_error = "spm_train failed";
    return w;
  }
  const auto tokenizer = (w.dir / "tok.model").string();
  const std::vector<std::pair<std::string, std::string>> steps = {
      {"data prepare", "data prepare --tokenizer " + tokenizer + " --input " + (w.dir / "docs.jsonl").string() +
                           " --out " + (w.dir / "data").string() + " --quiet"},
      {"init", "init --preset tiny --tokenizer " + tokenizer + " --out " + (w.dir / "init").string()},
      {"train", "train -c " + (w.dir / "exp.yaml").string()}};
  for (const auto& [name, args] : steps) {
    const auto result = run_cream(args);
    if (result.status != 0) {
      w.setup_error = name + " failed: " + result.output;
      return w;
    }
  }
  w.init_model = w.dir / "init";
  w.trained_model = w.dir / "run" / "step-000003";
  return w;
}

// Removes the workspace when the test program exits (kept when CREAM_KEEP_TEST_DIR is set,
// to debug a failure by hand).
struct RemoveAtExit {
  fs::path dir;
  ~RemoveAtExit() {
    if (std::getenv("CREAM_KEEP_TEST_DIR")) return;
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

const Workspace& workspace() {
  static const Workspace ws = build_workspace();
  static const RemoveAtExit cleanup{ws.dir};
  return ws;
}

// One model's records: every eval run once, its stderr and JSON record kept.
struct EvalRun {
  CommandResult result;
  fs::path record_path;
};

struct ModelRuns {
  std::map<std::string, EvalRun> evals;  // ppl, passkey, passkey_forced, lines, kv, needle
  CommandResult generate;
};

std::string eval_args(const std::string& name, const Workspace& w) {
  if (name == "ppl") return "ppl --data " + (w.dir / "data").string() + " --lengths 256,640 --docs 2";
  if (name == "passkey") return "passkey --lengths 256,640 --depths 0,100 --trials 1";
  if (name == "passkey_forced") return "passkey --lengths 256,640 --depths 0,100 --trials 1 --scoring forced";
  if (name == "lines") return "lines --lines 3,12 --depths 0,100 --trials 1 --max-new-tokens 8";
  if (name == "kv") return "kv --pairs 2,10 --gold-positions 0,1 --trials 1 --max-new-tokens 8";
  return "needle --lengths 256,640 --depths 0,100 --trials 1 --max-new-tokens 8 --haystack " + w.haystack.string();
}

const ModelRuns& runs_for(const fs::path& model) {
  static std::map<std::string, ModelRuns> cache;
  auto found = cache.find(model.string());
  if (found != cache.end()) return found->second;
  const auto& w = workspace();
  ModelRuns runs;
  for (const std::string name : {"ppl", "passkey", "passkey_forced", "lines", "kv", "needle"}) {
    EvalRun run;
    run.record_path = model.parent_path() / (model.filename().string() + "_" + name + ".json");
    run.result = run_cream("eval " + eval_args(name, w) + " --model " + model.string() + " --threads 1 --out " +
                           run.record_path.string());
    runs.evals[name] = run;
  }
  runs.generate =
      run_cream("generate --model " + model.string() + " --prompt \"the key is\" --max-new-tokens 6 --threads 1");
  return cache[model.string()] = runs;
}

// The prompt sizes of a record: ppl window lengths, or each cell's prompt (one trial per
// cell, so a cell's mean prompt size is its prompt's).
std::vector<int64_t> prompt_sizes(const nlohmann::json& record) {
  std::vector<int64_t> sizes;
  if (record.contains("results"))
    for (const auto& row : record["results"]) sizes.push_back(row["length"].get<int64_t>());
  else
    for (const auto& cell : record["cells"]) sizes.push_back(std::llround(cell["prompt_tokens"].get<double>()));
  return sizes;
}

// The warning names a prompt of the record that is longer than the record's window (the
// eval measures one trial of its largest cell before loading weights).
void expect_window_warning(const std::string& name, const nlohmann::json& record, const std::string& stderr_text) {
  const int64_t window = record["window"].get<int64_t>();
  const auto sizes = prompt_sizes(record);
  ASSERT_GT(*std::max_element(sizes.begin(), sizes.end()), window) << name << ": the sizes should pass the window";
  const std::regex warning("eval " + record["eval"].get<std::string>() + ": length ([0-9]+) " + kWarning + " " +
                           std::to_string(window) + " tokens");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(stderr_text, match, warning)) << name << " printed no warning:\n" << stderr_text;
  const int64_t named = std::stoll(match[1].str());
  EXPECT_GT(named, window);
  EXPECT_NE(std::find(sizes.begin(), sizes.end(), named), sizes.end())
      << name << ": the warning names length " << named << ", which no prompt of the record has";
}

void expect_ppl_record(const nlohmann::json& record, double vocab, bool trained) {
  EXPECT_EQ(record["eval"], "ppl");
  EXPECT_EQ(record["mode"], "truncate");
  ASSERT_EQ(record["results"].size(), 2u);
  for (const auto& row : record["results"]) {
    const double ppl = row["ppl_token"].get<double>();
    EXPECT_TRUE(std::isfinite(ppl) && ppl > 1.0) << row.dump();
    EXPECT_GT(row["tokens_scored"].get<double>(), 0.0) << row.dump();
    // A fresh model's logits are near-flat, so its perplexity is close to a uniform guess;
    // three steps of training already beat that guess.
    if (trained)
      EXPECT_LT(ppl, vocab) << row.dump();
    else
      EXPECT_NEAR(ppl / vocab, 1.0, 0.5) << row.dump();
  }
}

void expect_retrieval_record(const std::string& name, const nlohmann::json& record) {
  const std::string eval = name == "passkey_forced" ? "passkey" : name;
  EXPECT_EQ(record["eval"], eval);
  ASSERT_TRUE(record.contains("cells") && record["cells"].is_array()) << name;
  EXPECT_EQ(record["cells"].size(), 4u) << name << ": 2 sizes x 2 depths (kv: 2 gold positions)";
  const double accuracy = record["accuracy"].get<double>();
  EXPECT_TRUE(accuracy >= 0.0 && accuracy <= 1.0) << name;
  EXPECT_EQ(record["trials_total"], 4) << name;
  for (const auto& cell : record["cells"]) {
    for (const char* key : {"accuracy", "depth", "prompt_tokens", "samples", "trials"})
      EXPECT_TRUE(cell.contains(key)) << name << " cell lacks " << key << ": " << cell.dump();
    EXPECT_EQ(cell["samples"].size(), 1u) << name;
  }
  if (name == "passkey_forced") {
    EXPECT_EQ(record["scoring"], "forced");
    EXPECT_TRUE(record.contains("token_accuracy"));
  }
  if (name == "needle") {
    EXPECT_TRUE(record.contains("rouge_l_f1") && record.contains("strict_hit"));
  }
}

void check_model(const fs::path& model, bool trained) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const double vocab = read_json(model / "config.json")["vocab_size"].get<double>();
  const auto& runs = runs_for(model);
  for (const auto& [name, run] : runs.evals) {
    SCOPED_TRACE(name + " on " + model.string());
    ASSERT_EQ(run.result.status, 0) << run.result.output;
    ASSERT_TRUE(fs::exists(run.record_path));
    const auto record = read_json(run.record_path);
    EXPECT_EQ(record["window"], read_json(model / "config.json")["max_position_embeddings"]);
    if (name == "ppl")
      expect_ppl_record(record, vocab, trained);
    else
      expect_retrieval_record(name, record);
    expect_window_warning(name, record, run.result.stderr_text);
  }
  ASSERT_EQ(runs.generate.status, 0) << runs.generate.output;
  EXPECT_TRUE(std::regex_search(runs.generate.stderr_text, std::regex("generated [1-6] tokens")))
      << runs.generate.stderr_text;
  EXPECT_FALSE(contains(runs.generate.stderr_text, kWarning)) << "a short prompt is within the window";
}

}  // namespace

TEST(EvalCli, EveryEvalAndGenerateOnInitModel) { check_model(workspace().init_model, false); }

TEST(EvalCli, EveryEvalAndGenerateOnTrainedCheckpoint) {
  check_model(workspace().trained_model, true);
  const auto config = read_json(workspace().trained_model / "config.json");
  EXPECT_EQ(config["max_position_embeddings"], 256) << "train extends the window to target_length";
}

TEST(EvalCli, ARunFolderStandsForItsNewestCheckpoint) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto run = w.trained_model.parent_path();
  const auto generate = run_cream("generate --model " + run.string() + " --prompt hello --max-new-tokens 2 --device cpu");
  EXPECT_EQ(generate.status, 0) << generate.output;
  EXPECT_TRUE(contains(generate.stderr_text, "using its newest complete checkpoint " + w.trained_model.string()))
      << generate.stderr_text;
  const auto exported = w.dir / "exported_from_run";
  fs::remove_all(exported);
  const auto export_run = run_cream("export --checkpoint " + run.string() + " --out " + exported.string());
  EXPECT_EQ(export_run.status, 0) << export_run.output;
  EXPECT_TRUE(fs::exists(exported / "config.json"));
  const auto ppl = run_cream("eval ppl --model " + run.string() + " --data " + (w.dir / "data").string() +
                             " --lengths 64 --docs 1 --device cpu");
  EXPECT_TRUE(contains(ppl.stderr_text, w.trained_model.string())) << ppl.output;
  EXPECT_TRUE(contains(ppl.stderr_text, "ppl: length 64: 1/1 documents, elapsed ")) << ppl.stderr_text;
}

TEST(EvalCli, WithinTheWindowNoWarning) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto result = run_cream("eval passkey --model " + w.init_model.string() +
                                " --lengths 256 --depths 50 --trials 1 --threads 1");
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_FALSE(contains(result.stderr_text, kWarning)) << result.stderr_text;
}

TEST(EvalCli, GenerateWarnsPastTheWindowBeforeGenerating) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto config = read_json(w.init_model / "config.json");
  const int64_t window = config["max_position_embeddings"].get<int64_t>();
  const std::string base = "generate --model " + w.init_model.string() + " --prompt hello --device cpu --max-new-tokens ";
  const auto inside = run_cream(base + "4");
  ASSERT_EQ(inside.status, 0) << inside.output;
  EXPECT_FALSE(contains(inside.stderr_text, kWarning)) << inside.stderr_text;
  const auto past = run_cream(base + std::to_string(window + 8));
  ASSERT_EQ(past.status, 0) << past.output;
  EXPECT_TRUE(contains(past.stderr_text, std::string("generate (prompt + --max-new-tokens): length ")) &&
              contains(past.stderr_text, kWarning))
      << past.stderr_text;
}

TEST(EvalCli, PlotEvalRendersEveryRecord) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  std::string records;
  for (const auto& model : {w.init_model, w.trained_model})
    for (const auto& [name, run] : runs_for(model).evals) {
      ASSERT_EQ(run.result.status, 0) << name << ": " << run.result.output;
      records += run.record_path.string() + " ";
    }
  ASSERT_TRUE(matplotlib_available()) << CREAM_PYTHON << " lacks matplotlib (run scripts/setup.sh)";
  const auto out_dir = w.dir / "figures";
  const std::string command = std::string(CREAM_PYTHON) + " " + (fs::path(CREAM_SOURCE_DIR) / "scripts" / "plot_eval.py").string() +
                              " " + records + "--out-dir " + out_dir.string() + " >/dev/null 2>" +
                              (w.dir / "plot_stderr.txt").string();
  ASSERT_EQ(std::system(command.c_str()), 0) << cream::util::read_text_file(w.dir / "plot_stderr.txt");
  // One ppl figure, a heatmap per passkey / needle record (3 per model), one by-depth figure per eval.
  std::vector<std::string> expected = {"ppl_vs_length.png", "passkey_by_depth.png", "lines_by_depth.png",
                                       "kv_by_depth.png", "needle_by_depth.png"};
  for (const std::string model : {"init", "step-000003"})
    for (const std::string name : {"passkey_passkey", "passkey_forced_passkey", "needle_needle"})
      expected.push_back(model + "_" + name + "_heatmap.png");
  for (const auto& name : expected) {
    const auto png = out_dir / name;
    ASSERT_TRUE(fs::exists(png)) << name;
    std::ifstream file(png, std::ios::binary);
    std::string magic(8, '\0');
    file.read(magic.data(), 8);
    EXPECT_EQ(magic, std::string("\x89PNG\r\n\x1a\n", 8)) << name;
    EXPECT_GT(fs::file_size(png), 1000u) << name;
  }
}

// Bad input: exit status 1 and one line on stderr naming what is wrong.
TEST(EvalCli, AnUnwritableOutIsRefusedBeforeTheModelIsEvenRead) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto file = w.dir / "a_file";
  write(file, "x");
  const std::string out = " --out " + (file / "ppl.json").string();
  // The model does not exist either: the --out check comes first, before any work.
  for (const std::string args : {"eval ppl --model " + (w.dir / "absent").string() + " --data x --lengths 64",
                                 "eval passkey --model " + (w.dir / "absent").string() + " --lengths 64"}) {
    const auto result = run_cream(args + out);
    EXPECT_EQ(result.status, 1) << args;
    EXPECT_EQ(line_count(result.stderr_text), 1) << result.stderr_text;
    EXPECT_TRUE(contains(result.stderr_text, "--out: cannot write") && contains(result.stderr_text, "is not a folder"))
        << args << "\n" << result.stderr_text;
  }
}

TEST(EvalCli, BadInputNamesTheCulprit) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto empty = w.dir / "empty_haystack.txt";
  write(empty, "");
  const auto no_tokenizer = w.dir / "model_without_tokenizer";
  fs::create_directories(no_tokenizer);
  fs::copy_file(w.init_model / "config.json", no_tokenizer / "config.json");
  fs::copy_file(w.init_model / "model.safetensors", no_tokenizer / "model.safetensors");
  const std::string model = " --model " + w.init_model.string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"eval needle" + model + " --lengths 256 --depths 0 --trials 1 --haystack " + empty.string(), empty.string()},
      {"eval passkey" + model + " --lengths 256 --depths 120 --trials 1", "--depths"},
      {"eval passkey --model " + no_tokenizer.string() + " --lengths 256 --depths 0 --trials 1",
       no_tokenizer.string()},
      {"generate --model " + no_tokenizer.string() + " --prompt hi", no_tokenizer.string()}};
  for (const auto& [args, culprit] : cases) {
    const auto out = w.dir / "bad.json";
    const bool is_eval = args.rfind("eval ", 0) == 0;
    const auto result = run_cream(args + (is_eval ? " --out " + out.string() : std::string()));
    EXPECT_EQ(result.status, 1) << args << "\n" << result.output;
    EXPECT_EQ(line_count(result.stderr_text), 1) << args << "\n" << result.stderr_text;
    EXPECT_TRUE(contains(result.stderr_text, "cream: error:") && contains(result.stderr_text, culprit))
        << args << "\n" << result.stderr_text;
    EXPECT_FALSE(fs::exists(out)) << args << ": no record on failure";
  }
}

// SIGTERM during a long evaluation: the results so far are written, marked partial,
// and the exit status is 128 + 15.
TEST(EvalCli, ASignalWritesThePartialResultsAndExitsNonZero) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto out = w.dir / "partial-ppl.json", err = w.dir / "partial.err";
  fs::remove(out);
  // Long enough never to finish within the test (sliding, stride 2, four lengths, every document).
  const std::string args = "eval ppl --model " + w.init_model.string() + " --data " + (w.dir / "data").string() +
                           " --lengths 64,128,256,512 --mode sliding --stride 2 --docs 0 --threads 1 --out " +
                           out.string() + " 2>" + err.string() + " & P=$!; sleep 3; kill -TERM $P; wait $P; echo status=$?";
  const auto started = std::chrono::steady_clock::now();
  const auto result = run_cream(args);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_TRUE(contains(result.output, "status=143")) << result.output;
  EXPECT_LT(seconds, 60.0);
  ASSERT_TRUE(fs::exists(out)) << result.output;
  const auto record = read_json(out);
  EXPECT_TRUE(record.at("partial").get<bool>());
  ASSERT_FALSE(record.at("results").empty());
  EXPECT_GT(record.at("results")[0].at("ppl_token").get<double>(), 1.0);
  std::ifstream in(err);
  const std::string stderr_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(stderr_text, "stopped by signal 15") && contains(stderr_text, "\"partial\": true"))
      << stderr_text;
}

TEST(EvalCli, ASignalDuringARetrievalEvalWritesItsTrialsSoFar) {
  const auto& w = workspace();
  ASSERT_TRUE(w.setup_error.empty()) << w.setup_error;
  const auto out = w.dir / "partial-passkey.json";
  fs::remove(out);
  const std::string args = "eval passkey --model " + w.init_model.string() +
                           " --lengths 256,512 --trials 200 --threads 1 --out " + out.string() +
                           " 2>/dev/null & P=$!; sleep 3; kill -INT $P; wait $P; echo status=$?";
  const auto result = run_cream(args);
  EXPECT_TRUE(contains(result.output, "status=130")) << result.output;
  ASSERT_TRUE(fs::exists(out)) << result.output;
  const auto record = read_json(out);
  EXPECT_TRUE(record.at("partial").get<bool>());
}
