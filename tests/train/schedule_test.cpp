// LrSchedule against golden rates from tests/fixtures/train/make_schedule_golden.py
// (a stateful re-statement of DeepSpeed's WarmupLR/WarmupDecayLR) and closed forms.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cream/train/schedule.h"
#include "cream/util/error.h"

namespace cream::train {
namespace {

nlohmann::json load_golden() {
  std::ifstream in(std::string(CREAM_SOURCE_DIR) + "/tests/fixtures/train/schedule_golden.json");
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

TEST(LrSchedule, MatchesGoldenRates) {
  const auto golden = load_golden();
  ASSERT_GE(golden.size(), 8u);
  for (const auto& c : golden) {
    ScheduleOptions o;
    o.kind = parse_schedule_kind(c["schedule"].get<std::string>());
    o.warmup = parse_warmup_kind(c["warmup_type"].get<std::string>());
    o.lr = c["lr"];
    o.min_lr = c["min_lr"];
    o.warmup_steps = c["warmup_steps"];
    o.total_steps = c["total_steps"];
    const LrSchedule schedule(o);
    const auto& rates = c["rates"];
    for (size_t k = 0; k < rates.size(); ++k) {
      const double expected = rates[k];
      EXPECT_NEAR(schedule.lr_at(static_cast<int64_t>(k)), expected, 1e-15 + 1e-12 * expected)
          << c["name"] << " step " << k;
    }
  }
}

TEST(LrSchedule, PaperRecipeClosedForm) {
  ScheduleOptions o;
  o.kind = ScheduleKind::kWarmupDecay;
  o.warmup = WarmupKind::kLog;
  o.lr = 2e-5;
  o.warmup_steps = 10;
  o.total_steps = 1000;
  const LrSchedule s(o);
  EXPECT_EQ(s.lr_at(0), 0.0);                                    // ln(1) = 0
  EXPECT_DOUBLE_EQ(s.lr_at(1), 2e-5 * std::log(2.0) / std::log(10.0));
  EXPECT_DOUBLE_EQ(s.lr_at(9), 2e-5);                            // ln(10)/ln(10)
  EXPECT_DOUBLE_EQ(s.lr_at(10), 2e-5);                           // (1000-10)/990
  EXPECT_DOUBLE_EQ(s.lr_at(999), 2e-5 / 990.0);                  // last step
  EXPECT_EQ(s.lr_at(1000), 0.0);
  EXPECT_EQ(s.lr_at(5000), 0.0);                                 // clamped at the floor
}

TEST(LrSchedule, CosineEndsAtFloorAndIsMonotone) {
  ScheduleOptions o;
  o.kind = ScheduleKind::kCosine;
  o.warmup = WarmupKind::kLinear;
  o.lr = 1e-3;
  o.min_lr = 1e-4;
  o.warmup_steps = 4;
  o.total_steps = 104;
  const LrSchedule s(o);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 1e-4);
  EXPECT_DOUBLE_EQ(s.lr_at(2), 1e-4 + 0.9e-3 * 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(4), 1e-3);
  EXPECT_NEAR(s.lr_at(54), 1e-4 + 0.9e-3 * 0.5, 1e-15);           // halfway: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(s.lr_at(104), 1e-4);
  for (int64_t k = 5; k < 110; ++k) EXPECT_LE(s.lr_at(k), s.lr_at(k - 1)) << k;
}

TEST(LrSchedule, ConstantWithoutWarmupIsFlat) {
  ScheduleOptions o;
  o.lr = 3e-4;
  const LrSchedule s(o);
  for (int64_t k : {0, 1, 7, 100000}) EXPECT_EQ(s.lr_at(k), 3e-4);
}

TEST(LrSchedule, RejectsBadOptionsNamingTheKey) {
  auto message_of = [](ScheduleOptions o) {
    try {
      LrSchedule s(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  ScheduleOptions o;
  o.lr = 1e-3;
  o.kind = ScheduleKind::kWarmupDecay;
  EXPECT_NE(message_of(o).find("train.steps"), std::string::npos);
  o.total_steps = 10;
  o.min_lr = 1.0;
  EXPECT_NE(message_of(o).find("schedule.min_lr"), std::string::npos);
  o.min_lr = 0.0;
  o.warmup_steps = -1;
  EXPECT_NE(message_of(o).find("schedule.warmup_steps"), std::string::npos);
  o.warmup_steps = 0;
  o.lr = -1.0;
  EXPECT_NE(message_of(o).find("optim.lr"), std::string::npos);
  EXPECT_THROW(parse_schedule_kind("linear"), Error);
  EXPECT_THROW(parse_warmup_kind("exp"), Error);
  EXPECT_THROW(LrSchedule(ScheduleOptions{}).lr_at(-1), Error);
}

}  // namespace
}  // namespace cream::train
