// scripts/plot_eval.py on hand-written `cream eval` records (tests/fixtures/eval/plot):
// which PNGs it writes, that they are real PNGs, and its one-line errors on bad input.
// Skipped where the system Python lacks matplotlib (the script is optional tooling).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cli_helpers.h"

namespace fs = std::filesystem;
using cream::test::contains;

namespace {

const fs::path kFixtures = fs::path(CREAM_SOURCE_DIR) / "tests" / "fixtures" / "eval" / "plot";
const std::string kScript = (fs::path(CREAM_SOURCE_DIR) / "scripts" / "plot_eval.py").string();

bool matplotlib_available() {
  static const bool available = std::system((std::string(CREAM_PYTHON) + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) == 0;
  return available;
}

struct ScriptResult {
  int status = -1;
  std::string out;  // stdout only: the written paths
  std::string err;
};

ScriptResult run_plot_eval(const std::string& args, const fs::path& dir) {
  const auto err_path = dir / "stderr.txt";
  const auto shell = cream::test::run_shell(std::string(CREAM_PYTHON) + " " + kScript + " " + args + " 2>" +
                                            err_path.string());
  ScriptResult result{shell.status, shell.output, ""};
  std::ifstream err(err_path);
  result.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  fs::remove(err_path);
  return result;
}

std::string fixtures(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (kFixtures / name).string() + " ";
  return joined;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_png(const fs::path& path) {
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  const auto bytes = file_bytes(path);
  return bytes.size() > 1000 && bytes.compare(0, kSignature.size(), kSignature) == 0;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

std::set<std::string> printed_lines(const std::string& text) {
  std::set<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    lines.insert(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

class PlotEval : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(matplotlib_available()) << CREAM_PYTHON << " lacks matplotlib (run scripts/setup.sh)";
    dir_ = cream::test::fresh_dir(std::string("plot_eval_") +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  fs::path dir_;
};

}  // namespace

TEST_F(PlotEval, WritesEveryPlotTypeAsPngAndPrintsThePaths) {
  const auto out = dir_ / "plots";
  const auto run = run_plot_eval(
      fixtures({"ppl_base.json", "ppl_cream.json", "passkey_cream.json", "passkey_forced.json", "needle_cream.json",
                "lines_cream.json", "kv_cream.json", "kv_pi.json"}) +
          "--out-dir " + out.string() + " --window 4096 --title 'Llama-2 7B'",
      dir_);
  ASSERT_EQ(run.status, 0) << run.err;
  const std::set<std::string> expected = {
      "ppl_vs_length.png",           "passkey_cream_passkey_heatmap.png", "passkey_forced_passkey_heatmap.png",
      "needle_cream_needle_heatmap.png", "passkey_by_depth.png",          "needle_by_depth.png",
      "lines_by_depth.png",          "kv_by_depth.png"};
  EXPECT_EQ(files_in(out), expected) << "no heatmaps for lines/kv, no leftovers";
  std::set<std::string> printed;
  for (const auto& name : expected) {
    EXPECT_TRUE(is_png(out / name)) << name;
    printed.insert((out / name).string());
  }
  EXPECT_EQ(printed_lines(run.out), printed) << run.out;
}

TEST_F(PlotEval, LabelsNameTheHeatmapsAndMissingDataSkipsPlots) {
  const auto out = dir_ / "plots";
  const auto run = run_plot_eval(fixtures({"passkey_cream.json", "needle_cream.json"}) + "--out-dir " +
                                     out.string() + " --labels 'cream,needle run'",
                                 dir_);
  ASSERT_EQ(run.status, 0) << run.err;
  // No perplexity, lines or kv record: those plots are skipped, not drawn empty.
  EXPECT_EQ(files_in(out), (std::set<std::string>{"cream_passkey_heatmap.png", "needle_run_needle_heatmap.png",
                                                  "passkey_by_depth.png", "needle_by_depth.png"}));
  for (const auto& name : files_in(out)) EXPECT_TRUE(is_png(out / name)) << name;
}

TEST_F(PlotEval, MetricOptionSwitchesToTokenAccuracyWhereTheRecordHasIt) {
  const auto plain = run_plot_eval(fixtures({"passkey_forced.json"}) + "--out-dir " + (dir_ / "a").string(), dir_);
  const auto tokens = run_plot_eval(
      fixtures({"passkey_forced.json"}) + "--out-dir " + (dir_ / "b").string() + " --metric token_accuracy", dir_);
  ASSERT_EQ(plain.status, 0) << plain.err;
  ASSERT_EQ(tokens.status, 0) << tokens.err;
  const std::string name = "passkey_forced_passkey_heatmap.png";
  ASSERT_TRUE(is_png(dir_ / "a" / name));
  ASSERT_TRUE(is_png(dir_ / "b" / name));
  EXPECT_NE(file_bytes(dir_ / "a" / name), file_bytes(dir_ / "b" / name)) << "token_accuracy values differ";
}

TEST_F(PlotEval, MalformedJsonFailsNamingTheFileAndWritesNothing) {
  const auto broken = dir_ / "broken_record.json";
  std::ofstream(broken) << "{\"eval\": \"kv\", \"cells\": [";
  const auto out = dir_ / "plots";
  const auto run =
      run_plot_eval(fixtures({"kv_cream.json"}) + broken.string() + " --out-dir " + out.string(), dir_);
  EXPECT_EQ(run.status, 2);
  EXPECT_TRUE(contains(run.err, broken.string())) << run.err;
  EXPECT_TRUE(contains(run.err, "invalid JSON")) << run.err;
  EXPECT_EQ(cream::test::line_count(run.err), 1) << run.err;
  EXPECT_TRUE(files_in(out).empty()) << "records are all read before any plot is drawn";
}

TEST_F(PlotEval, UnknownShapeAndNoInputAreOneLineErrors) {
  const auto odd = dir_ / "odd_record.json";
  std::ofstream(odd) << R"({"eval": "bleu", "score": 3})";
  const auto unknown = run_plot_eval(odd.string() + " --out-dir " + (dir_ / "plots").string(), dir_);
  EXPECT_EQ(unknown.status, 2);
  EXPECT_TRUE(contains(unknown.err, odd.string())) << unknown.err;
  EXPECT_TRUE(contains(unknown.err, "not a cream eval record")) << unknown.err;
  EXPECT_EQ(cream::test::line_count(unknown.err), 1) << unknown.err;

  const auto none = run_plot_eval("--out-dir " + (dir_ / "plots").string(), dir_);
  EXPECT_EQ(none.status, 2);
  EXPECT_TRUE(contains(none.err, "no input")) << none.err;
  EXPECT_EQ(cream::test::line_count(none.err), 1) << none.err;
}
