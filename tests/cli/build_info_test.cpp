// Build facts and device selection, as a user sees them: `cream --version` / `info`
// name the LibTorch, CUDA and cuDNN; a CUDA-enabled build really loads libtorch_cuda
// (an as-needed link would silently drop it); asking for CUDA without a GPU is one
// line, and `auto` falls back to the CPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <torch/cuda.h>
#include <torch/version.h>

#include "cli_helpers.h"

namespace fs = std::filesystem;
using cream::test::contains;
using cream::test::run_cream;

TEST(BuildInfo, VersionAndInfoNameLibTorchCudaAndGpus) {
  for (const char* args : {"--version", "info", "version"}) {
    const auto result = run_cream(args);
    ASSERT_EQ(result.status, 0) << args << ": " << result.output;
    EXPECT_TRUE(contains(result.output, std::string("libtorch ") + TORCH_VERSION)) << args << ": " << result.output;
    EXPECT_TRUE(contains(result.output, "intra-op threads")) << result.output;
    if (torch::cuda::is_available())
      EXPECT_FALSE(contains(result.output, "gpus none")) << result.output;
    else
      EXPECT_TRUE(contains(result.output, "gpus none")) << result.output;
#ifdef CREAM_CUDA
    EXPECT_TRUE(contains(result.output, "build CUDA-enabled: compiled with CUDA ")) << result.output;
    // The kernels of libtorch_cuda registered: its hooks answer with a version.
    EXPECT_TRUE(contains(result.output, "libtorch cuda CUDA ")) << result.output;
    EXPECT_TRUE(contains(result.output, "cuDNN 9.")) << result.output;
#else
    EXPECT_TRUE(contains(result.output, "build CPU-only")) << result.output;
#endif
  }
}

// The commit line lets a figure be traced to the code that made it: it names the
// source checkout's HEAD (asked of git here, not of CMake), "-dirty" when tracked
// files had uncommitted changes at build time; "unknown" only outside a git checkout.
TEST(BuildInfo, VersionNamesTheCommitItWasBuiltFrom) {
  const auto result = run_cream("version");
  ASSERT_EQ(result.status, 0) << result.output;
  std::smatch line;
  ASSERT_TRUE(std::regex_search(result.output, line, std::regex("(^|\n)commit (\\S+)\n"))) << result.output;
  const std::string commit = line[2];
  const auto head = cream::test::run_shell(std::string("git -C '") + CREAM_SOURCE_DIR + "' rev-parse HEAD 2>/dev/null");
  if (head.status != 0 || head.output.size() < 40) {
    EXPECT_EQ(commit, "unknown") << result.output;
    return;
  }
  EXPECT_TRUE(std::regex_match(commit, std::regex("[0-9a-f]{40}(-dirty)?"))) << commit;
  EXPECT_EQ(commit.substr(0, 40), head.output.substr(0, 40)) << "the binary is older than the checkout: rebuild";
}

class DeviceSelection : public ::testing::Test {
 protected:
  void SetUp() override {
    if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU: the no-GPU errors do not apply";
    dir_ = cream::test::fresh_dir("device_selection");
    const auto init = run_cream("init --preset tiny --out " + (dir_ / "model").string());
    ASSERT_EQ(init.status, 0) << init.output;
  }
  fs::path dir_;
};

TEST_F(DeviceSelection, CudaWithoutGpuIsOneLineAndAutoFallsBackToCpu) {
  const auto out = dir_ / "logits.safetensors";
  const std::string logits = "logits --model " + (dir_ / "model").string() + " --tokens 1,2,3 --out " + out.string();
  const auto refused = run_cream(logits + " --device cuda");
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_EQ(cream::test::line_count(refused.stderr_text), 1) << refused.stderr_text;
  EXPECT_TRUE(contains(refused.stderr_text, "--device") && contains(refused.stderr_text, "CUDA"))
      << refused.stderr_text;
  EXPECT_FALSE(fs::exists(out));
  const auto automatic = run_cream(logits + " --device auto");
  EXPECT_EQ(automatic.status, 0) << automatic.output;
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(DeviceSelection, TrainWithModelDeviceCudaIsOneLineNamingTheKey) {
  const auto config = dir_ / "exp.yaml";
  std::ofstream(config) << "model:\n  path: " << (dir_ / "model").string()
                        << "\n  dtype: fp32\n  device: cuda\n  threads: 1\n"
                           "data:\n  train: " << (dir_ / "no-data").string()
                        << "\npositions:\n  method: standard\n  train_length: 16\n  target_length: 16\n"
                           "rope:\n  type: none\n"
                           "train:\n  steps: 1\n  global_batch: 1\n  micro_batch: 1\n"
                           "optim:\n  name: adamw\n  lr: 1.0e-3\n"
                           "checkpoint:\n  output_dir: " << (dir_ / "run").string() << "\n";
  const auto refused = run_cream("train -c " + config.string());
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_EQ(cream::test::line_count(refused.stderr_text), 1) << refused.stderr_text;
  EXPECT_TRUE(contains(refused.stderr_text, "model.device")) << refused.stderr_text;
}
