// Atomic checkpoint folders: save, discovery of the latest complete one, pruning.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cream/train/run_folder.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::train {
namespace {

class RunFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cream-run-folder-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path save(int64_t step) {
    return save_checkpoint_atomic(dir_, step, [step](const fs::path& folder) {
      std::ofstream(folder / "weights.bin") << "weights of step " << step;
      fs::create_directory(folder / "sub");
      std::ofstream(folder / "sub" / "state.json") << "{}";
    });
  }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

TEST(CheckpointNames, FormatAndParse) {
  EXPECT_EQ(checkpoint_folder_name(12), "step-000012");
  EXPECT_EQ(checkpoint_folder_name(1234567), "step-1234567");
  EXPECT_EQ(parse_checkpoint_folder_name("step-000012"), 12);
  EXPECT_EQ(parse_checkpoint_folder_name("step-1234567"), 1234567);
  for (const char* bad : {"step-12", "step-0000012", "step-00001a", "step-000012.bak", ".tmp-step-000012",
                          "Step-000012", "step--00012", "step-", ""}) {
    EXPECT_FALSE(parse_checkpoint_folder_name(bad).has_value()) << bad;
  }
}

TEST_F(RunFolder, SaveWritesFilesAndMarkerUnderTheFinalName) {
  const auto path = save(40);
  EXPECT_EQ(path, dir_ / "step-000040");
  EXPECT_EQ(util::read_text_file(path / "weights.bin"), "weights of step 40");
  EXPECT_TRUE(fs::exists(path / "sub" / "state.json"));
  const auto marker = nlohmann::json::parse(util::read_text_file(path / kCompleteMarker));
  EXPECT_EQ(marker.at("step").get<int64_t>(), 40);
  EXPECT_TRUE(marker.at("time").is_string());
  EXPECT_EQ(entries(), std::vector<std::string>{"step-000040"});
  const auto latest = latest_complete_checkpoint(dir_);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 40);
  EXPECT_EQ(latest->path, path);
}

TEST_F(RunFolder, FillThatThrowsLeavesNothing) {
  save(10);
  EXPECT_THROW(save_checkpoint_atomic(dir_, 20,
                                      [](const fs::path& folder) {
                                        std::ofstream(folder / "half.bin") << "partial";
                                        throw Error("disk full");
                                      }),
               Error);
  EXPECT_EQ(entries(), std::vector<std::string>{"step-000010"});
  EXPECT_EQ(latest_complete_checkpoint(dir_)->step, 10);
}

TEST_F(RunFolder, SimulatedKillIsIgnoredOnResumeAndCleanedByTheNextSave) {
  save(100);
  // a save killed before the rename, one killed during a prune, a foreign folder
  // without marker, a marker naming another step, and malformed names
  fs::create_directories(dir_ / ".tmp-step-000200-99-0-1" / "sub");
  std::ofstream(dir_ / ".tmp-step-000200-99-0-1" / kCompleteMarker) << R"({"step":200})";
  fs::create_directories(dir_ / ".tmp-delete-step-000050-99-1-2");
  fs::create_directories(dir_ / "step-000300");
  std::ofstream(dir_ / "step-000300" / "weights.bin") << "half";
  fs::create_directories(dir_ / "step-000400");
  std::ofstream(dir_ / "step-000400" / kCompleteMarker) << R"({"step":7})";
  fs::create_directories(dir_ / "step-000500");
  std::ofstream(dir_ / "step-000500" / kCompleteMarker) << "not json";
  fs::create_directories(dir_ / "step-600");
  std::ofstream(dir_ / "step-600" / kCompleteMarker) << R"({"step":600})";
  std::ofstream(dir_ / "step-000700") << "a file, not a folder";

  const auto latest = latest_complete_checkpoint(dir_);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->step, 100);
  EXPECT_EQ(complete_checkpoints(dir_).size(), 1u);

  save(110);
  for (const auto& name : entries()) EXPECT_NE(name.rfind(".tmp-", 0), 0u) << name;
  EXPECT_TRUE(fs::exists(dir_ / "step-000300"));  // not ours to delete
  EXPECT_EQ(latest_complete_checkpoint(dir_)->step, 110);
}

TEST_F(RunFolder, SaveReplacesAnExistingFolderOfTheSameStep) {
  fs::create_directories(dir_ / "step-000300");
  std::ofstream(dir_ / "step-000300" / "stale.bin") << "stale";
  save(300);
  EXPECT_FALSE(fs::exists(dir_ / "step-000300" / "stale.bin"));
  EXPECT_EQ(latest_complete_checkpoint(dir_)->step, 300);
  EXPECT_EQ(entries(), std::vector<std::string>{"step-000300"});
}

TEST_F(RunFolder, MissingOutputDirHasNoCheckpoint) {
  EXPECT_FALSE(latest_complete_checkpoint(dir_ / "absent").has_value());
  EXPECT_TRUE(prune_checkpoints(dir_ / "absent", 2).empty());
}

TEST_F(RunFolder, PruneKeepsTheNewestCompleteOnes) {
  for (int64_t step : {10, 20, 30, 40}) save(step);
  fs::create_directories(dir_ / "step-000005");  // incomplete: left alone
  EXPECT_TRUE(prune_checkpoints(dir_, 0).empty());   // keep all
  EXPECT_TRUE(prune_checkpoints(dir_, -3).empty());
  EXPECT_EQ(complete_checkpoints(dir_).size(), 4u);
  EXPECT_EQ(prune_checkpoints(dir_, 2), (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(entries(), (std::vector<std::string>{"step-000005", "step-000030", "step-000040"}));
  EXPECT_EQ(prune_checkpoints(dir_, 1), (std::vector<int64_t>{30}));
  EXPECT_TRUE(prune_checkpoints(dir_, 1).empty());  // never the only complete one
  EXPECT_EQ(latest_complete_checkpoint(dir_)->step, 40);
  EXPECT_TRUE(prune_checkpoints(dir_, 5).empty());
}

TEST_F(RunFolder, PruneNeverCountsAnIncompleteNewerFolder) {
  save(10);
  save(20);
  fs::create_directories(dir_ / "step-000030");  // newer but without marker
  EXPECT_EQ(prune_checkpoints(dir_, 1), (std::vector<int64_t>{10}));
  EXPECT_EQ(latest_complete_checkpoint(dir_)->step, 20);
}

}  // namespace
}  // namespace cream::train
