// TensorBoard event files: CRC-32C, TFRecord framing and the hand-encoded Event
// bytes; files read back by tensorboard's own reader (tests/train/read_tensorboard.py
// run with CREAM_PYTHON); log.tensorboard in the config; a tiny training run,
// killed and resumed, whose event files hold exactly metrics.jsonl's numbers.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "config/config_test_helpers.h"
#include "cream/train/metrics.h"
#include "cream/train/tensorboard.h"
#include "cream/train/trainer.h"
#include "cream/util/fs.h"
#include "trainer_test_support.h"

namespace cream::train {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

uint32_t little_endian_u32(const std::string& data, size_t at) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(data[at + i]);
  return value;
}

// --- CRC-32C and framing ---------------------------------------------------

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283U);
  EXPECT_EQ(crc32c(""), 0U);
  // RFC 3720 (iSCSI) appendix B.4.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAU);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43U);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  for (int i = 31; i >= 0; --i) descending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794EU);
  EXPECT_EQ(crc32c(descending), 0x113FDB5CU);
}

TEST(Crc32c, MaskRotatesAndAddsTheConstant) {
  const uint32_t crc = 0xE3069283U;
  EXPECT_EQ(masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8U);
}

TEST(TfRecord, LengthThenMaskedCrcsAroundTheData) {
  const std::string record = tfrecord("abc");
  ASSERT_EQ(record.size(), 8u + 4u + 3u + 4u);
  EXPECT_EQ(record.substr(0, 8), bytes({3, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(little_endian_u32(record, 8), masked_crc32c(record.substr(0, 8)));
  EXPECT_EQ(record.substr(12, 3), "abc");
  EXPECT_EQ(little_endian_u32(record, 15), masked_crc32c("abc"));
}

// The bytes follow from event.proto / summary.proto: Event{wall_time=1 (fixed64),
// step=2 (varint), file_version=3, summary=5, session_log=7}, Summary{value=1},
// Value{tag=1, simple_value=2 (fixed32)}, SessionLog{status=1, START=1}.
TEST(TensorboardEvent, ScalarEventBytes) {
  const std::string wall = bytes({0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F});  // 1.5
  const std::string value = bytes({0x0A, 0x01, 'a', 0x15, 0, 0, 0x80, 0x3F});  // tag "a", 1.0f
  const std::string summary = bytes({0x0A, 0x08}) + value;
  EXPECT_EQ(scalars_event(1.5, 300, {{"a", 1.0F}}), wall + bytes({0x10, 0xAC, 0x02, 0x2A, 0x0A}) + summary);
  EXPECT_EQ(file_version_event(1.5), wall + bytes({0x10, 0x00, 0x1A, 13}) + "brain.Event:2");
  EXPECT_EQ(session_start_event(1.5, 5), wall + bytes({0x10, 0x05, 0x3A, 0x02, 0x08, 0x01}));
}

TEST(TensorboardEvent, MetricsRecordTags) {
  const auto record = nlohmann::json::parse(
      R"({"step": 3, "loss": 2.5, "lr": 2e-5, "grad_norm": 0.75, "tokens_per_s": 1234.5,
          "memory": {"rss_bytes": 4096, "cuda_peak_allocated_bytes": 123}, "eval_loss_32": null,
          "eval_ppl_32": 12.0, "note": "text", "other": 7})");
  std::map<std::string, float> got;
  for (const auto& scalar : tensorboard_scalars(record)) got[scalar.tag] = scalar.value;
  const std::map<std::string, float> expected{
      {"train/loss", 2.5F},        {"train/lr", 2e-5F},          {"train/grad_norm", 0.75F},
      {"train/tokens_per_s", 1234.5F}, {"memory/rss_bytes", 4096.F}, {"memory/cuda_peak_allocated_bytes", 123.F},
      {"eval/ppl_32", 12.0F},      {"other", 7.F}};
  EXPECT_EQ(got, expected);
}

// --- read back with tensorboard's reader -------------------------------------

bool python_has_tensorboard() {
  static const bool has = std::system("'" CREAM_PYTHON "' -c 'import tensorboard' >/dev/null 2>&1") == 0;
  return has;
}

// tensorboard is in requirements.txt: its absence is a broken setup, not a skip.
#define REQUIRE_TENSORBOARD() \
  ASSERT_TRUE(python_has_tensorboard()) << CREAM_PYTHON " cannot import tensorboard (run scripts/setup.sh)"

using Series = std::vector<std::pair<int64_t, double>>;  // (step, value) per tag

// {tag: [(step, value)...]} as tensorboard's EventAccumulator reads `path`.
std::map<std::string, Series> read_scalars(const fs::path& path) {
  const std::string command = "'" CREAM_PYTHON "' '" CREAM_SOURCE_DIR "/tests/train/read_tensorboard.py' '" +
                              path.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(command + " failed: " + output);
  const auto parsed = nlohmann::json::parse(output);  // items() must not outlive it
  std::map<std::string, Series> out;
  for (const auto& [tag, points] : parsed.items())
    for (const auto& point : points) out[tag].emplace_back(point.at(0).get<int64_t>(), point.at(1).get<double>());
  return out;
}

std::vector<int64_t> steps_of(const Series& series) {
  std::vector<int64_t> out;
  for (const auto& point : series) out.push_back(point.first);
  return out;
}

std::vector<fs::path> event_files(const fs::path& folder) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(folder)) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TensorboardWriter, TensorboardReadsBackEveryScalar) {
  REQUIRE_TENSORBOARD();
  const test::ScopedDir dir("tensorboard_writer");
  std::vector<int64_t> steps{1, 2, 3, 200, 5000000000LL};  // multi-byte varints too
  fs::path file;
  {
    TensorboardWriter writer(dir.path / "tb");
    file = writer.path();
    for (const int64_t step : steps)
      writer.write_scalars(step, {{"train/loss", 1.0F / static_cast<float>(step)}, {"neg", -0.1F * step}});
  }
  EXPECT_EQ(file.parent_path(), dir.path / "tb");
  EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u) << file;
  const auto scalars = read_scalars(file);
  ASSERT_EQ(scalars.size(), 2u);
  ASSERT_EQ(steps_of(scalars.at("train/loss")), steps);
  ASSERT_EQ(steps_of(scalars.at("neg")), steps);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(scalars.at("train/loss")[i].second, 1.0F / static_cast<float>(steps[i]));
    EXPECT_EQ(scalars.at("neg")[i].second, -0.1F * steps[i]);
  }
}

// A resumed log opens a new file whose SessionLog START hides the killed run's
// steps after the checkpoint; the older file keeps them.
TEST(TensorboardWriter, ResumeAddsAFileThatSupersedesLaterSteps) {
  REQUIRE_TENSORBOARD();
  const test::ScopedDir dir("tensorboard_resume");
  const auto path = dir.path / "metrics.jsonl";
  auto no_memory = MetricsLog::MemoryProbe();
  {
    MetricsLog killed(path, MetricsStart::fresh(), no_memory);
    killed.also_write_tensorboard(dir.path / "tb");
    for (int64_t s = 1; s <= 4; ++s) killed.append({s, 10.0 + s, 1e-3, 0.5, 100.0});
  }
  {
    MetricsLog resumed(path, MetricsStart::resume_after(2), no_memory);
    resumed.also_write_tensorboard(dir.path / "tb");
    for (int64_t s = 3; s <= 5; ++s) resumed.append({s, 20.0 + s, 1e-3, 0.5, 100.0});
  }
  EXPECT_EQ(event_files(dir.path / "tb").size(), 2u);
  const auto loss = read_scalars(dir.path / "tb").at("train/loss");
  EXPECT_EQ(loss, (Series{{1, 11.0}, {2, 12.0}, {3, 23.0}, {4, 24.0}, {5, 25.0}}));
}

TEST(TensorboardWriter, UnwritableFolderIsAnErrorNamingIt) {
  const test::ScopedDir dir("tensorboard_unwritable");
  test::write_file(dir.path / "file", "x");
  try {
    TensorboardWriter writer(dir.path / "file" / "tb");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path / "file" / "tb").string()), std::string::npos) << e.what();
  }
}

// --- config -------------------------------------------------------------------

TEST(TensorboardConfig, OffByDefaultOnWhenAsked) {
  using config::testing::kMinimal;
  EXPECT_FALSE(config::parse_experiment(kMinimal).log.tensorboard);
  const auto on = config::parse_experiment(kMinimal + "log:\n  tensorboard: true\n");
  EXPECT_TRUE(on.log.tensorboard);
  EXPECT_NE(config::to_yaml(on).find("tensorboard: true"), std::string::npos);
  EXPECT_TRUE(config::parse_experiment(kMinimal, "cfg.yaml", {"log.tensorboard=true"}).log.tensorboard);
  EXPECT_FALSE(config::is_resume_protected("log.tensorboard"));
  const auto error = config::testing::parse_error(kMinimal + "log:\n  tensorboard: yes please\n");
  EXPECT_NE(error.find("log.tensorboard: expected true or false"), std::string::npos) << error;
}

// --- end to end -----------------------------------------------------------------

std::vector<nlohmann::json> metrics_records(const fs::path& run) {
  std::vector<nlohmann::json> out;
  std::istringstream in(util::read_text_file(run / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// metrics.jsonl's `key` on the lines that have it, as TensorBoard stores it (float).
Series jsonl_series(const std::vector<nlohmann::json>& records, const std::string& key) {
  Series out;
  for (const auto& record : records)
    if (record.contains(key)) out.emplace_back(record.at("step").get<int64_t>(), record.at(key).get<float>());
  return out;
}

// 6 steps, checkpoint at 3, killed during step 5 (after logging 4), resumed from 3:
// step 4 is logged twice, and TensorBoard shows the resumed run's numbers.
TEST(TensorboardTraining, EventFilesHoldMetricsJsonlNumbers) {
  REQUIRE_TENSORBOARD();
  const test::ScopedDir dir("tensorboard_training");
  const auto run = dir.path / "run";
  const std::vector<std::string> overrides{"log.tensorboard=true", "checkpoint.every=3", "eval.every=3"};
  TrainHooks crash;
  crash.after_backward = [](int64_t step, model::LlamaForCausalLMImpl&) {
    if (step == 4) throw std::runtime_error("simulated crash");
  };
  EXPECT_THROW(Trainer(test::tiny_experiment(run, overrides), {}, crash).train(), std::runtime_error);
  TrainOptions options;
  options.resume = true;
  Trainer resumed(test::tiny_experiment(run, overrides), options);
  EXPECT_EQ(resumed.step(), 3);
  EXPECT_EQ(resumed.train().final_step, 6);

  EXPECT_EQ(event_files(run / kTensorboardFolder).size(), 2u);
  const auto scalars = read_scalars(run / kTensorboardFolder);
  const auto records = metrics_records(run);
  ASSERT_EQ(records.size(), 6u);
  const std::vector<int64_t> all_steps{1, 2, 3, 4, 5, 6};
  for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s"}) {
    const std::string tag = std::string("train/") + key;
    ASSERT_TRUE(scalars.count(tag)) << tag;
    EXPECT_EQ(steps_of(scalars.at(tag)), all_steps) << tag;
    EXPECT_EQ(scalars.at(tag), jsonl_series(records, key)) << tag;
  }
  ASSERT_TRUE(scalars.count("memory/rss_bytes"));
  EXPECT_EQ(steps_of(scalars.at("memory/rss_bytes")), all_steps);
  EXPECT_GT(scalars.at("memory/rss_bytes").front().second, 0.0);
  for (const char* length : {"32", "128"}) {
    for (const char* kind : {"loss", "ppl"}) {
      const std::string tag = std::string("eval/") + kind + "_" + length;
      ASSERT_TRUE(scalars.count(tag)) << tag;
      EXPECT_EQ(steps_of(scalars.at(tag)), (std::vector<int64_t>{3, 6})) << tag;
      EXPECT_EQ(scalars.at(tag), jsonl_series(records, std::string("eval_") + kind + "_" + length)) << tag;
    }
  }
}

}  // namespace
}  // namespace cream::train
