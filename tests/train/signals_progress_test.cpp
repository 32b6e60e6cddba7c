// Stop-signal guard and the console progress line.
#include <csignal>

#include <gtest/gtest.h>

#include "cream/train/progress.h"
#include "cream/train/signals.h"
#include "cream/util/error.h"

namespace cream::train {
namespace {

void (*current_handler(int signal_number))(int) {
  struct sigaction action;
  sigaction(signal_number, nullptr, &action);
  return action.sa_handler;
}

extern "C" void previous_test_handler(int) {}

TEST(StopSignalGuard, FirstSignalSetsTheFlagAndHandlersAreRestored) {
  std::signal(SIGTERM, previous_test_handler);
  const auto original_int = current_handler(SIGINT);
  {
    StopSignalGuard guard;
    EXPECT_FALSE(stop_requested());
    EXPECT_NE(current_handler(SIGTERM), previous_test_handler);
    std::raise(SIGTERM);
    EXPECT_TRUE(stop_requested());
    EXPECT_EQ(stop_signal(), SIGTERM);
    EXPECT_THROW(StopSignalGuard second, Error);
  }
  EXPECT_EQ(current_handler(SIGTERM), previous_test_handler);
  EXPECT_EQ(current_handler(SIGINT), original_int);
  std::signal(SIGTERM, SIG_DFL);
  StopSignalGuard fresh;  // a new guard starts with a cleared flag
  EXPECT_FALSE(stop_requested());
  std::raise(SIGINT);
  EXPECT_EQ(stop_signal(), SIGINT);
}

TEST(StopSignalGuardDeathTest, SecondSignalExitsImmediately) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        StopSignalGuard guard;
        std::raise(SIGINT);
        std::raise(SIGINT);
        std::_Exit(0);  // not reached
      },
      ::testing::ExitedWithCode(128 + SIGINT), "second signal");
}

TEST(Progress, FormatsTheLine) {
  ProgressFields f{12, 1000, 3.21044, 2e-5, 1234.4, 3720.0};
  EXPECT_EQ(format_progress_line(f), "step 12/1000 | loss 3.2104 | lr 2.00e-05 | 1234 tok/s | ETA 1h02m");
  f.eta_seconds.reset();
  EXPECT_EQ(format_progress_line(f), "step 12/1000 | loss 3.2104 | lr 2.00e-05 | 1234 tok/s | ETA --");
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(59.6), "1m00s");
  EXPECT_EQ(format_duration(427), "7m07s");
  EXPECT_EQ(format_duration(3600), "1h00m");
  EXPECT_EQ(format_duration(86399), "23h59m");
  EXPECT_EQ(format_duration(2 * 86400 + 5 * 3600 + 59), "2d05h");
  EXPECT_EQ(format_duration(-1), "--");
  EXPECT_EQ(format_duration(NAN), "--");
}

TEST(Progress, EtaUsesAMovingAverageOfTheLastSteps) {
  EtaEstimator eta(3);
  EXPECT_FALSE(eta.eta_seconds(10).has_value());
  eta.record_step_seconds(100.0);  // e.g. a slow first step (compilation, checkpoint)
  EXPECT_DOUBLE_EQ(*eta.eta_seconds(10), 1000.0);
  for (int i = 0; i < 3; ++i) eta.record_step_seconds(2.0);
  EXPECT_DOUBLE_EQ(*eta.mean_step_seconds(), 2.0);  // the outlier left the window
  eta.record_step_seconds(5.0);
  EXPECT_DOUBLE_EQ(*eta.eta_seconds(4), 4 * 3.0);
  EXPECT_DOUBLE_EQ(*eta.eta_seconds(-2), 0.0);
  EXPECT_THROW(EtaEstimator(0), Error);
}

}  // namespace
}  // namespace cream::train
