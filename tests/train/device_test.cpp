// Device selection: LOCAL_RANK, the one-line errors, and CPU when asked for.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>

#include <torch/cuda.h>

#include "cream/train/device.h"
#include "cream/util/error.h"

namespace {

using cream::config::Device;
using cream::train::local_rank;
using cream::train::select_device;

// Sets LOCAL_RANK for one test and restores what was there.
struct LocalRank {
  explicit LocalRank(const char* value) {
    if (const char* old = std::getenv("LOCAL_RANK")) saved = old, had = true;
    if (value) setenv("LOCAL_RANK", value, 1);
    else unsetenv("LOCAL_RANK");
  }
  ~LocalRank() {
    if (had) setenv("LOCAL_RANK", saved.c_str(), 1);
    else unsetenv("LOCAL_RANK");
  }
  std::string saved;
  bool had = false;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cream::Error& e) {
    return e.what();
  }
  return "";
}

TEST(Device, LocalRankComesFromTheEnvironment) {
  {
    LocalRank unset(nullptr);
    EXPECT_EQ(local_rank(), 0);
  }
  {
    LocalRank three("3");
    EXPECT_EQ(local_rank(), 3);
  }
  for (const char* bad : {"x", "-1", "2a"}) {
    LocalRank rank(bad);
    EXPECT_EQ(error_of([] { local_rank(); }),
              std::string("LOCAL_RANK: expected a non-negative integer, got \"") + bad + "\"");
  }
}

TEST(Device, CpuIsCpuWhateverTheRank) {
  LocalRank rank("5");
  EXPECT_TRUE(select_device(Device::cpu).is_cpu());
}

TEST(Device, CudaIsCudaLocalRankOrAClearError) {
  LocalRank rank("0");
  if (!torch::cuda::is_available()) {
    EXPECT_TRUE(select_device(Device::auto_select).is_cpu());
    const auto message = error_of([] { select_device(Device::cuda); });
    EXPECT_NE(message.find("model.device: cuda was asked for but this process sees no CUDA GPU"), std::string::npos)
        << message;
    return;
  }
  EXPECT_EQ(select_device(Device::cuda), torch::Device(torch::kCUDA, 0));
  LocalRank beyond(std::to_string(torch::cuda::device_count()).c_str());
  EXPECT_NE(error_of([] { select_device(Device::cuda); }).find("names GPU"), std::string::npos);
}

}  // namespace
