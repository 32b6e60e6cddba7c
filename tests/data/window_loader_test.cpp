// WindowLoader: window plan (full / short / packed / skipped), determinism by
// seed, uniform shuffling, cursor save/restore, rank striding.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "cream/data/prepare.h"
#include "cream/data/token_dataset.h"
#include "cream/data/window_loader.h"
#include "data_test_support.h"

namespace {

using cream::data::ShortDocs;
using cream::data::TokenDataset;
using cream::data::WindowKind;
using cream::data::WindowLoader;
using cream::data::WindowLoaderOptions;
using namespace cream::test;
using Tokens = std::vector<int32_t>;

constexpr int32_t kBos = 1;  // the test tokenizer's BOS

// Document `doc` of `length` tokens: BOS then ids that differ between documents.
Tokens make_document(int doc, uint64_t length) {
  Tokens tokens{kBos};
  for (uint64_t i = 1; i < length; ++i) tokens.push_back(3 + static_cast<int32_t>((doc * 31 + i * 7) % 390));
  return tokens;
}

// Prepares `documents` (as input_ids) into dir/name and returns the folder.
fs::path prepare_documents(const fs::path& dir, const std::string& name, const std::vector<Tokens>& documents,
                           uint64_t max_shard_tokens = uint64_t(1) << 29) {
  std::string jsonl;
  for (const auto& doc : documents) jsonl += nlohmann::json{{"input_ids", doc}}.dump() + "\n";
  write_file(dir / (name + ".jsonl"), jsonl);
  cream::data::PrepareOptions options;
  options.tokenizer = test_tokenizer();
  options.inputs = {dir / (name + ".jsonl")};
  options.out = dir / name;
  options.max_shard_tokens = max_shard_tokens;
  cream::data::prepare(options);
  return options.out;
}

WindowLoaderOptions loader_options(uint64_t L, uint64_t N, uint64_t seed, bool shuffle,
                                   ShortDocs mode = ShortDocs::kPack) {
  WindowLoaderOptions options;
  options.target_length = L;
  options.min_length = N;
  options.seed = seed;
  options.shuffle = shuffle;
  options.short_docs = mode;
  return options;
}

std::vector<Tokens> take(WindowLoader& loader, size_t count) {
  std::vector<Tokens> windows;
  for (size_t i = 0; i < count; ++i) windows.push_back(loader.next().tokens);
  return windows;
}

Tokens slice(const Tokens& tokens, size_t begin, size_t end) {
  return Tokens(tokens.begin() + begin, tokens.begin() + end);
}

Tokens concat(std::initializer_list<Tokens> parts) {
  Tokens out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// L = 16, N = 8: documents of 40, 37, 12, 5, 6, 3 and 16 tokens.
std::vector<Tokens> mixed_documents() {
  std::vector<Tokens> docs;
  int doc = 0;
  for (uint64_t length : {40, 37, 12, 5, 6, 3, 16}) docs.push_back(make_document(doc++, length));
  return docs;
}

TEST(WindowLoader, PlanCutsFullShortAndPackedWindows) {
  const auto dir = fresh_dir("plan");
  const auto docs = mixed_documents();
  // Expected plan (shuffle off): per document its full windows then a short
  // remainder >= N; remainders/documents < N packed at the end, in order.
  const Tokens pack_stream = concat({slice(docs[1], 32, 37), docs[3], docs[4], docs[5]});  // 5+5+6+3 = 19
  const std::vector<std::pair<Tokens, WindowKind>> expected = {
      {slice(docs[0], 0, 16), WindowKind::kFull},   {slice(docs[0], 16, 32), WindowKind::kFull},
      {slice(docs[0], 32, 40), WindowKind::kShort}, {slice(docs[1], 0, 16), WindowKind::kFull},
      {slice(docs[1], 16, 32), WindowKind::kFull},  {docs[2], WindowKind::kShort},
      {docs[6], WindowKind::kFull},                 {slice(pack_stream, 0, 16), WindowKind::kPacked},
  };
  // Same plan whether documents sit in one shard or straddle 7-token shards.
  for (uint64_t shard_tokens : {uint64_t(1) << 20, uint64_t(7)}) {
    const TokenDataset data(prepare_documents(dir, "mixed" + std::to_string(shard_tokens), docs, shard_tokens));
    WindowLoader loader(data, loader_options(16, 8, 0, /*shuffle=*/false));
    ASSERT_EQ(loader.windows_per_epoch(), expected.size());
    for (const auto& [tokens, kind] : expected) {
      const auto window = loader.next();
      EXPECT_EQ(window.tokens, tokens);
      EXPECT_EQ(window.kind, kind);
      EXPECT_EQ(window.epoch, 0u);
    }
    const auto& counts = loader.counts();
    EXPECT_EQ(counts.full_windows, 5u);
    EXPECT_EQ(counts.short_windows, 2u);
    EXPECT_EQ(counts.packed_windows, 1u);
    EXPECT_EQ(counts.packed_documents, 4u);
    EXPECT_EQ(counts.skipped_documents, 0u);
    EXPECT_EQ(counts.dropped_tokens, 3u) << "the 3-token end of the pack stream is < N";
    EXPECT_EQ(loader.next().epoch, 1u) << "wraps into the next epoch";
  }
  fs::remove_all(dir);
}

TEST(WindowLoader, FullWindowsAreExactlyLAndPackedWindowsKeepEveryBos) {
  const auto dir = fresh_dir("packing");
  std::vector<Tokens> docs;
  for (int doc = 0; doc < 30; ++doc) docs.push_back(make_document(doc, 2 + (doc * 13) % 9));  // all < N = 12
  docs.push_back(make_document(99, 64 * 3));
  const TokenDataset data(prepare_documents(dir, "short", docs));
  WindowLoader loader(data, loader_options(64, 12, 0, false));
  Tokens packed_stream;
  for (uint64_t i = 0; i < loader.windows_per_epoch(); ++i) {
    const auto window = loader.next();
    if (window.kind == WindowKind::kFull) {
      EXPECT_EQ(window.tokens.size(), 64u);
    }
    if (window.kind == WindowKind::kPacked) packed_stream.insert(packed_stream.end(), window.tokens.begin(), window.tokens.end());
  }
  EXPECT_EQ(loader.counts().full_windows, 3u);
  Tokens all_short;
  for (int doc = 0; doc < 30; ++doc) all_short.insert(all_short.end(), docs[doc].begin(), docs[doc].end());
  ASSERT_LE(packed_stream.size(), all_short.size());
  EXPECT_EQ(packed_stream, slice(all_short, 0, packed_stream.size())) << "documents concatenated in order";
  EXPECT_EQ(all_short.size() - packed_stream.size(), loader.counts().dropped_tokens);
  EXPECT_EQ(std::count(packed_stream.begin(), packed_stream.end(), kBos),
            std::count(all_short.begin(), all_short.begin() + packed_stream.size(), kBos));
  fs::remove_all(dir);
}

TEST(WindowLoader, SkipModeDropsShortDocuments) {
  const auto dir = fresh_dir("skip");
  const TokenDataset data(prepare_documents(dir, "mixed", mixed_documents()));
  WindowLoader loader(data, loader_options(16, 8, 0, false, ShortDocs::kSkip));
  EXPECT_EQ(loader.windows_per_epoch(), 7u);
  EXPECT_EQ(loader.counts().packed_windows, 0u);
  EXPECT_EQ(loader.counts().skipped_documents, 4u);
  EXPECT_EQ(loader.counts().dropped_tokens, 19u);
  for (int i = 0; i < 7; ++i) EXPECT_NE(loader.next().kind, WindowKind::kPacked);
  // Nothing long enough at all: refused with the folder named.
  const auto tiny = prepare_documents(dir, "tiny", {make_document(0, 3), make_document(1, 4)});
  const TokenDataset tiny_data(tiny);
  expect_error([&] { WindowLoader l(tiny_data, loader_options(16, 8, 0, false, ShortDocs::kSkip)); },
               {tiny.string(), "no training windows"});
  expect_error([&] { WindowLoader l(data, loader_options(8, 16, 0, false)); }, {"min length N"});
  auto bad_rank = loader_options(16, 8, 0, false);
  bad_rank.rank = 2;
  bad_rank.world_size = 2;
  expect_error([&] { WindowLoader l(data, bad_rank); }, {"rank 2"});
  EXPECT_EQ(cream::data::parse_short_docs("skip"), ShortDocs::kSkip);
  expect_error([] { cream::data::parse_short_docs("drop"); }, {"short_docs", "drop"});
  fs::remove_all(dir);
}

std::vector<Tokens> long_documents(int count) {
  std::vector<Tokens> docs;
  for (int doc = 0; doc < count; ++doc) docs.push_back(make_document(doc, 1 + (doc * 53) % 70));
  return docs;
}

std::vector<Tokens> epoch_of(const std::vector<Tokens>& windows, uint64_t epoch, uint64_t n) {
  return std::vector<Tokens>(windows.begin() + epoch * n, windows.begin() + (epoch + 1) * n);
}

TEST(WindowLoader, OrderIsDeterministicBySeedAndEachEpochIsAPermutation) {
  const auto dir = fresh_dir("seed");
  const TokenDataset data(prepare_documents(dir, "docs", long_documents(80)));
  WindowLoader plain(data, loader_options(16, 8, 0, false));
  const uint64_t n = plain.windows_per_epoch();
  ASSERT_GT(n, 50u);
  auto plan = take(plain, n);
  std::sort(plan.begin(), plan.end());

  WindowLoader a(data, loader_options(16, 8, 42, true)), b(data, loader_options(16, 8, 42, true));
  WindowLoader c(data, loader_options(16, 8, 43, true));
  const auto a_windows = take(a, 3 * n), b_windows = take(b, 3 * n), c_windows = take(c, n);
  EXPECT_EQ(a_windows, b_windows) << "same seed, same windows in the same order";
  EXPECT_NE(epoch_of(a_windows, 0, n), c_windows) << "another seed, another order";
  for (uint64_t epoch = 0; epoch < 3; ++epoch) {
    auto windows = epoch_of(a_windows, epoch, n);
    if (epoch > 0) {
      EXPECT_NE(windows, epoch_of(a_windows, 0, n)) << "epoch " << epoch << " is reshuffled";
    }
    std::sort(windows.begin(), windows.end());
    EXPECT_EQ(windows, plan) << "epoch " << epoch << " serves every window exactly once";
  }
  fs::remove_all(dir);
}

// Which plan window lands first (and at position 3) over many seeds: a uniform
// shuffle makes every window equally likely. Chi-square with 7 degrees of freedom,
// threshold 24.32 (p = 0.001).
TEST(WindowLoader, ShuffleIsUniform) {
  const auto dir = fresh_dir("uniform");
  std::vector<Tokens> docs;
  for (int doc = 0; doc < 8; ++doc) docs.push_back(make_document(doc, 16));
  const TokenDataset data(prepare_documents(dir, "eight", docs));
  std::map<Tokens, int> plan_index;
  for (int doc = 0; doc < 8; ++doc) plan_index[docs[doc]] = doc;
  const int draws = 4000;
  for (int position : {0, 3}) {
    std::vector<int> counts(8, 0);
    for (int seed = 0; seed < draws; ++seed) {
      auto options = loader_options(16, 8, static_cast<uint64_t>(seed), true);
      options.log_plan = false;
      WindowLoader loader(data, options);
      Tokens window;
      for (int i = 0; i <= position; ++i) window = loader.next().tokens;
      ++counts[plan_index.at(window)];
    }
    double chi2 = 0;
    for (int count : counts) chi2 += (count - draws / 8.0) * (count - draws / 8.0) / (draws / 8.0);
    EXPECT_LT(chi2, 24.32) << "position " << position;
  }
  fs::remove_all(dir);
}

TEST(WindowLoader, SavedCursorResumesTheSameWindowsInTheSameOrder) {
  const auto dir = fresh_dir("cursor");
  const TokenDataset data(prepare_documents(dir, "docs", long_documents(50)));
  const auto options = loader_options(16, 8, 7, true);
  WindowLoader reference(data, options);
  const uint64_t n = reference.windows_per_epoch();
  const auto expected = take(reference, 3 * n);
  for (uint64_t stop : {uint64_t(0), uint64_t(5), n - 1, n, n + 3, 2 * n + 1}) {
    WindowLoader first(data, options);
    take(first, stop);
    const std::string saved = first.state().dump();  // as a checkpoint would store it
    WindowLoader resumed(data, options);
    resumed.restore(nlohmann::json::parse(saved));
    const auto rest = take(resumed, 3 * n - stop);
    EXPECT_EQ(rest, std::vector<Tokens>(expected.begin() + stop, expected.end())) << "stopped after " << stop;
  }
  // A cursor from other options is refused, naming the key.
  WindowLoader first(data, options);
  take(first, 4);
  auto other = options;
  other.seed = 8;
  WindowLoader wrong_seed(data, other);
  expect_error([&] { wrong_seed.restore(first.state()); }, {"'seed'"});
  other = options;
  other.world_size = 2;
  WindowLoader wrong_world(data, other);
  expect_error([&] { wrong_world.restore(first.state()); }, {"'world_size'"});
  auto truncated = first.state();
  truncated.erase("index");
  WindowLoader fresh(data, options);
  expect_error([&] { fresh.restore(truncated); }, {"'index'"});
  fs::remove_all(dir);
}

TEST(WindowLoader, RanksPartitionEachEpoch) {
  const auto dir = fresh_dir("ranks");
  const TokenDataset data(prepare_documents(dir, "docs", long_documents(61)));
  WindowLoader single(data, loader_options(16, 8, 3, true));
  const uint64_t n = single.windows_per_epoch();
  const int world = 3;
  const uint64_t per_rank = n / world;
  ASSERT_NE(n % world, 0u) << "the test wants a remainder to drop";
  const auto order = take(single, 2 * n);
  std::vector<std::vector<Tokens>> by_rank;
  for (int rank = 0; rank < world; ++rank) {
    auto options = loader_options(16, 8, 3, true);
    options.rank = rank;
    options.world_size = world;
    WindowLoader loader(data, options);
    EXPECT_EQ(loader.windows_per_epoch(), per_rank);
    by_rank.push_back(take(loader, 2 * per_rank));
  }
  for (uint64_t epoch = 0; epoch < 2; ++epoch) {
    for (uint64_t i = 0; i < per_rank; ++i)
      for (int rank = 0; rank < world; ++rank)
        EXPECT_EQ(by_rank[rank][epoch * per_rank + i], order[epoch * n + i * world + rank])
            << "epoch " << epoch << " step " << i << " rank " << rank;
  }
  fs::remove_all(dir);
}

}  // namespace
