// HF checkpoint folders: sharded writing (greedy, HF naming and index) read back by
// CheckpointFolder, and every inconsistency between index and shards refused by name.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "cream/io/checkpoint_folder.h"
#include "io_test_helpers.h"

namespace cream::io {
namespace {

using testing::count_entries;
using testing::error_message;
using testing::expect_mentions;
using testing::fresh_dir;
using testing::read_bytes;
using testing::write_bytes;
namespace fs = std::filesystem;

// A U8 tensor of `size` bytes whose every byte is `fill`.
TensorSource bytes_tensor(const std::string& name, int64_t size, char fill) {
  return TensorSource{name, DType::U8, {size}, [size, fill](std::ostream& out) {
                        const std::string bytes(static_cast<std::size_t>(size), fill);
                        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
                      }};
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_dir("checkpoint"); }
  void TearDown() override { fs::remove_all(dir_); }

  // Six tensors of 40, 40, 150, 20, 80, 30 bytes and a 100-byte limit: HF's greedy rule
  // gives [a b] [big] [c d] [e]; `big` exceeds the limit and gets a shard alone.
  static std::vector<TensorSource> sharded_sample() {
    return {bytes_tensor("a", 40, 'a'),  bytes_tensor("b", 40, 'b'), bytes_tensor("big", 150, 'B'),
            bytes_tensor("c", 20, 'c'),  bytes_tensor("d", 80, 'd'), bytes_tensor("e", 30, 'e')};
  }

  fs::path write_sharded() {
    const auto folder = dir_ / "model";
    write_checkpoint(folder, sharded_sample(), CheckpointWriteOptions{100, {{"format", "pt"}}});
    return folder;
  }

  std::string open_error(const fs::path& folder) {
    return error_message([&] { CheckpointFolder checkpoint(folder); });
  }

  fs::path dir_;
};

TEST_F(Checkpoint, ShardPlanIsGreedyInOrder) {
  const auto plan = plan_shards(sharded_sample(), 100);
  const std::vector<std::vector<std::size_t>> expected = {{0, 1}, {2}, {3, 4}, {5}};
  EXPECT_EQ(plan, expected);
  EXPECT_EQ(plan_shards(sharded_sample(), 0).size(), 1u);
  EXPECT_EQ(plan_shards(sharded_sample(), 1000).size(), 1u);
  // A tensor exactly at the limit fits; one byte more starts a new shard.
  EXPECT_EQ(plan_shards({bytes_tensor("x", 60, 'x'), bytes_tensor("y", 40, 'y')}, 100).size(), 1u);
  EXPECT_EQ(plan_shards({bytes_tensor("x", 60, 'x'), bytes_tensor("y", 41, 'y')}, 100).size(), 2u);
}

TEST_F(Checkpoint, ShardedRoundTripWithIndex) {
  const auto folder = dir_ / "model";
  const auto written = write_checkpoint(folder, sharded_sample(), CheckpointWriteOptions{100, {{"format", "pt"}}});
  const std::vector<std::string> expected_files = {
      "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors",
      "model-00004-of-00004.safetensors", "model.safetensors.index.json"};
  EXPECT_EQ(written, expected_files);
  EXPECT_EQ(count_entries(folder), expected_files.size()) << "no temporaries, nothing else";

  const auto index = nlohmann::json::parse(read_bytes(folder / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), 40u + 40 + 150 + 20 + 80 + 30);
  const nlohmann::json expected_map = {{"a", expected_files[0]}, {"b", expected_files[0]},
                                       {"big", expected_files[1]}, {"c", expected_files[2]},
                                       {"d", expected_files[2]},   {"e", expected_files[3]}};
  EXPECT_EQ(index["weight_map"], expected_map);

  SafetensorsFile big_shard(folder / expected_files[1]);
  ASSERT_EQ(big_shard.tensors().size(), 1u);
  EXPECT_EQ(big_shard.tensors()[0].name, "big");
  EXPECT_EQ(big_shard.metadata().at("format"), "pt");

  CheckpointFolder checkpoint(folder);
  EXPECT_TRUE(checkpoint.sharded());
  EXPECT_EQ(checkpoint.names(), (std::vector<std::string>{"a", "b", "big", "c", "d", "e"}));
  EXPECT_EQ(checkpoint.files().size(), 4u);
  for (const auto& tensor : sharded_sample()) {
    ASSERT_TRUE(checkpoint.contains(tensor.name));
    const auto& info = checkpoint.info(tensor.name);
    EXPECT_EQ(info.nbytes(), tensor.nbytes());
    const std::string expected(info.nbytes(), tensor.name == "big" ? 'B' : tensor.name[0]);
    EXPECT_EQ(std::memcmp(checkpoint.data(tensor.name), expected.data(), expected.size()), 0) << tensor.name;
  }
  EXPECT_FALSE(checkpoint.contains("zzz"));
  expect_mentions(error_message([&] { checkpoint.info("zzz"); }), {"'zzz'", folder.string()});
}

TEST_F(Checkpoint, SingleFileWhenEverythingFits) {
  const auto folder = dir_ / "single";
  const auto written = write_checkpoint(folder, sharded_sample(), CheckpointWriteOptions{1000, {}});
  EXPECT_EQ(written, std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(fs::exists(folder / "model.safetensors.index.json"));
  CheckpointFolder checkpoint(folder);
  EXPECT_FALSE(checkpoint.sharded());
  EXPECT_EQ(checkpoint.files(), std::vector<fs::path>{folder / "model.safetensors"});
  EXPECT_EQ(checkpoint.names().size(), 6u);
  EXPECT_EQ(static_cast<char>(checkpoint.data("d")[79]), 'd');
}

TEST_F(Checkpoint, RefusesAFolderThatAlreadyHoldsWeights) {
  const auto folder = write_sharded();
  expect_mentions(error_message([&] { write_checkpoint(folder, sharded_sample(), {}); }),
                  {folder.string(), "already holds model weights"});
}

TEST_F(Checkpoint, FailedShardWriteRemovesEveryFileOfTheCall) {
  auto tensors = sharded_sample();
  tensors[4].write = [](std::ostream&) { throw cream::Error("upstream failure"); };  // lands in shard 3
  const auto folder = dir_ / "model";
  EXPECT_THROW(write_checkpoint(folder, tensors, CheckpointWriteOptions{100, {}}), cream::Error);
  EXPECT_EQ(count_entries(folder), 0u) << "shards 1-2 must be removed, no temporaries left";
}

TEST_F(Checkpoint, MissingShardFile) {
  const auto folder = write_sharded();
  fs::remove(folder / "model-00003-of-00004.safetensors");
  expect_mentions(open_error(folder), {"model.safetensors.index.json", "model-00003-of-00004.safetensors", "missing"});
}

TEST_F(Checkpoint, ShardPathLeavingTheFolder) {
  const auto folder = dir_ / "evil";
  fs::create_directories(folder);
  write_bytes(folder / "model.safetensors.index.json", R"({"weight_map": {"a": "../model.safetensors"}})");
  expect_mentions(open_error(folder), {"model.safetensors.index.json", "'../model.safetensors'", "leaves the folder"});
  write_bytes(folder / "model.safetensors.index.json", R"({"weight_map": {"a": "/etc/passwd"}})");
  expect_mentions(open_error(folder), {"'/etc/passwd'", "absolute"});
  write_bytes(folder / "model.safetensors.index.json", R"({"weight_map": {"a": "sub/../../x.safetensors"}})");
  expect_mentions(open_error(folder), {"leaves the folder"});
}

TEST_F(Checkpoint, TensorListedInIndexButMissingFromShard) {
  const auto folder = write_sharded();
  auto index = nlohmann::json::parse(read_bytes(folder / "model.safetensors.index.json"));
  index["weight_map"]["ghost.weight"] = "model-00002-of-00004.safetensors";
  write_bytes(folder / "model.safetensors.index.json", index.dump());
  expect_mentions(open_error(folder), {"tensor 'ghost.weight'", "missing from its shard model-00002-of-00004"});
}

TEST_F(Checkpoint, TensorListedUnderTheWrongShard) {
  const auto folder = write_sharded();
  auto index = nlohmann::json::parse(read_bytes(folder / "model.safetensors.index.json"));
  index["weight_map"]["c"] = "model-00001-of-00004.safetensors";
  write_bytes(folder / "model.safetensors.index.json", index.dump());
  expect_mentions(open_error(folder), {"tensor 'c'", "listed in model-00001", "stored in model-00003"});
}

TEST_F(Checkpoint, TensorInTwoShards) {
  const auto folder = dir_ / "twice";
  fs::create_directories(folder);
  write_safetensors_file(folder / "model-00001-of-00002.safetensors", {bytes_tensor("a", 4, '1')});
  write_safetensors_file(folder / "model-00002-of-00002.safetensors",
                         {bytes_tensor("a", 4, '2'), bytes_tensor("b", 4, '3')});
  write_bytes(folder / "model.safetensors.index.json",
              R"({"metadata": {"total_size": 8}, "weight_map": {"a": "model-00001-of-00002.safetensors",)"
              R"( "b": "model-00002-of-00002.safetensors"}})");
  expect_mentions(open_error(folder), {"tensor 'a'", "two shards", "model-00001-of-00002", "model-00002-of-00002"});
}

TEST_F(Checkpoint, ShardTensorNotInIndex) {
  const auto folder = write_sharded();
  auto index = nlohmann::json::parse(read_bytes(folder / "model.safetensors.index.json"));
  index["weight_map"].erase("e");
  index["weight_map"]["d"] = "model-00003-of-00004.safetensors";
  write_bytes(folder / "model.safetensors.index.json", index.dump());
  // Shard 4 is no longer listed at all, so it is not opened: the checkpoint lacks 'e'.
  CheckpointFolder checkpoint(folder);
  EXPECT_FALSE(checkpoint.contains("e"));
  // A listed shard with an unlisted tensor is refused.
  index["weight_map"].erase("d");
  write_bytes(folder / "model.safetensors.index.json", index.dump());
  expect_mentions(open_error(folder), {"tensor 'd'", "not in the index"});
}

TEST_F(Checkpoint, IndexNotJsonOrWithoutWeightMap) {
  const auto folder = dir_ / "bad_index";
  fs::create_directories(folder);
  const auto index = folder / "model.safetensors.index.json";
  write_bytes(index, "{\"weight_map\": ");
  expect_mentions(open_error(folder), {index.string(), "not valid JSON"});
  write_bytes(index, R"({"metadata": {"total_size": 0}})");
  expect_mentions(open_error(folder), {index.string(), "lacks \"weight_map\""});
  write_bytes(index, R"({"weight_map": ["a"]})");
  expect_mentions(open_error(folder), {index.string(), "\"weight_map\" must be an object"});
  write_bytes(index, R"({"weight_map": {"a": 3}})");
  expect_mentions(open_error(folder), {"tensor 'a'", "must be a file name"});
  write_bytes(index, "[]");
  expect_mentions(open_error(folder), {"must be a JSON object"});
}

TEST_F(Checkpoint, FolderWithoutWeights) {
  const auto folder = dir_ / "empty";
  fs::create_directories(folder);
  write_bytes(folder / "config.json", "{}");
  expect_mentions(open_error(folder), {folder.string(), "no weights", "model.safetensors"});
  expect_mentions(open_error(dir_ / "nope"), {"nope", "not a folder"});
}

TEST_F(Checkpoint, InvalidShardIsNamed) {
  const auto folder = write_sharded();
  write_bytes(folder / "model-00002-of-00004.safetensors", "tiny");
  expect_mentions(open_error(folder), {"model-00002-of-00004.safetensors", "too short"});
}

TEST_F(Checkpoint, EquivalentShardSpellingsAreOneShard) {
  const auto folder = write_sharded();
  auto index = nlohmann::json::parse(read_bytes(folder / "model.safetensors.index.json"));
  index["weight_map"]["b"] = "./model-00001-of-00004.safetensors";
  write_bytes(folder / "model.safetensors.index.json", index.dump());
  CheckpointFolder checkpoint(folder);
  EXPECT_EQ(checkpoint.files().size(), 4u);
  EXPECT_EQ(static_cast<char>(checkpoint.data("b")[0]), 'b');
}

}  // namespace
}  // namespace cream::io
