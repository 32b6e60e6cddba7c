// metrics.jsonl writing, resume truncation and the memory probe.
#include <cmath>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "cream/train/metrics.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

class Metrics : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cream-metrics-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    path_ = dir_ / "run" / "metrics.jsonl";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<nlohmann::json> records() const {
    std::vector<nlohmann::json> out;
    std::istringstream in(util::read_text_file(path_));
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  static MemoryUsage fixed_memory() { return {4096, std::optional<int64_t>(123), std::optional<int64_t>(456)}; }

  void write_steps(MetricsStart start, std::initializer_list<int64_t> steps) {
    MetricsLog log(path_, start, fixed_memory);
    for (int64_t s : steps) log.append({s, 1.0 / (s + 1), 1e-4, 0.5, 100.0 * s});
  }

  fs::path dir_, path_;
};

TEST_F(Metrics, OneFlushedObjectPerLineWithAllFields) {
  MetricsLog log(path_, MetricsStart::fresh(), fixed_memory);
  StepMetrics m{3, 2.5, 2e-5, 0.75, 1234.5, {{"eval_ppl", 12.0}}};
  log.append(m);
  // flushed per line: readable while the log is still open
  const auto r = records();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["step"], 3);
  EXPECT_EQ(r[0]["loss"], 2.5);
  EXPECT_EQ(r[0]["lr"], 2e-5);
  EXPECT_EQ(r[0]["grad_norm"], 0.75);
  EXPECT_EQ(r[0]["tokens_per_s"], 1234.5);
  EXPECT_EQ(r[0]["eval_ppl"], 12.0);
  EXPECT_EQ(r[0]["memory"]["rss_bytes"], 4096);
  EXPECT_EQ(r[0]["memory"]["cuda_peak_allocated_bytes"], 123);
  EXPECT_EQ(r[0]["memory"]["cuda_peak_reserved_bytes"], 456);
}

TEST_F(Metrics, NonFiniteValuesBecomeNullAndExtraMayNotShadow) {
  MetricsLog log(path_, MetricsStart::fresh(), fixed_memory);
  log.append({1, std::nan(""), 1e-3, INFINITY, 0.0});
  const auto r = records();
  EXPECT_TRUE(r[0]["loss"].is_null());
  EXPECT_TRUE(r[0]["grad_norm"].is_null());
  EXPECT_THROW(log.append({2, 1.0, 1.0, 1.0, 1.0, {{"loss", 3}}}), Error);
}

TEST_F(Metrics, FreshStartEmptiesAnOldFile) {
  write_steps(MetricsStart::fresh(), {1, 2, 3});
  write_steps(MetricsStart::fresh(), {1});
  EXPECT_EQ(records().size(), 1u);
}

TEST_F(Metrics, ResumeDropsLaterStepsAndTornLinesThenAppends) {
  write_steps(MetricsStart::fresh(), {10, 20, 30, 40});
  {
    std::ofstream torn(path_, std::ios::app);
    torn << R"({"step": 50, "loss": 0.)";  // killed mid-write
  }
  write_steps(MetricsStart::resume_after(20), {30, 40});
  const auto r = records();
  ASSERT_EQ(r.size(), 4u);
  std::vector<int64_t> steps;
  for (const auto& x : r) steps.push_back(x["step"]);
  EXPECT_EQ(steps, (std::vector<int64_t>{10, 20, 30, 40}));
  EXPECT_EQ(r[2]["tokens_per_s"], 3000.0);
}

TEST_F(Metrics, ResumeWithoutAnExistingFileStartsOne) {
  write_steps(MetricsStart::resume_after(100), {101});
  EXPECT_EQ(records().size(), 1u);
}

TEST(MetricsLines, KeepsOnlyStepsUpToTheLimit) {
  const std::string contents = "{\"step\":1}\n{\"step\":5}\ngarbage\n{\"nostep\":1}\n{\"step\":3}\n";
  EXPECT_EQ(metrics_lines_up_to(contents, 3), "{\"step\":1}\n{\"step\":3}\n");
}

TEST(Memory, ProcessRssIsPlausible) {
  const auto rss = process_rss_bytes();
  EXPECT_GT(rss, 1 << 20);              // a LibTorch process holds more than 1 MiB
  EXPECT_LT(rss, int64_t{1} << 40);
  const auto usage = current_memory_usage(torch::kCPU);
  EXPECT_GT(usage.rss_bytes, 0);
  EXPECT_FALSE(usage.cuda_peak_allocated_bytes.has_value());
  if (torch::cuda::is_available()) {
    // The allocator's peak since the last call: a 64 MiB block shows, then is forgotten.
    const torch::Device cuda(torch::kCUDA, 0);
    current_memory_usage(cuda);
    { auto block = torch::empty({64 << 20}, torch::TensorOptions().dtype(torch::kByte).device(cuda)); }
    const auto after_block = current_memory_usage(cuda);
    EXPECT_GE(after_block.cuda_peak_allocated_bytes.value_or(-1), int64_t{64} << 20);
    EXPECT_GE(after_block.cuda_peak_reserved_bytes.value_or(-1), *after_block.cuda_peak_allocated_bytes);
    EXPECT_LT(current_memory_usage(cuda).cuda_peak_allocated_bytes.value_or(-1), int64_t{64} << 20);
  }
}

TEST(Memory, DefaultLogRecordsRss) {
  const auto path = fs::temp_directory_path() / ("cream-metrics-rss-" + std::to_string(::getpid()) + ".jsonl");
  {
    MetricsLog log(path, MetricsStart::fresh());
    log.append({1, 1.0, 1.0, 1.0, 1.0});
  }
  const auto record = nlohmann::json::parse(util::read_text_file(path));
  fs::remove(path);
  EXPECT_GT(record["memory"]["rss_bytes"].get<int64_t>(), 0);
  EXPECT_FALSE(record["memory"].contains("cuda_peak_allocated_bytes"));
}

}  // namespace
}  // namespace cream::train
