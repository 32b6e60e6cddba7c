// cream::data::prepare (the library behind `cream data prepare`) and TokenDataset:
// round trips through the real tokenizer, spm_encode token counts, error cases.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cream/data/prepare.h"
#include "cream/data/token_dataset.h"
#include "cream/io/tokenizer.h"
#include "cream/util/fs.h"
#include "data_test_support.h"

namespace {

using cream::data::PrepareOptions;
using cream::data::TokenDataset;
using cream::io::Tokenizer;
using namespace cream::test;

std::string jsonl_of_texts(const std::vector<std::string>& texts, const std::string& field = "text") {
  std::string out;
  for (const auto& text : texts) out += nlohmann::json{{field, text}}.dump() + "\n";
  return out;
}

PrepareOptions options_for(const fs::path& out, std::vector<fs::path> inputs) {
  PrepareOptions options;
  options.tokenizer = test_tokenizer();
  options.inputs = std::move(inputs);
  options.out = out;
  return options;
}

std::vector<std::string> single_line_texts(int count, uint64_t seed) {
  std::vector<std::string> texts;
  for (int i = 0; i < count; ++i) {
    std::string text = generated_text(seed + i, 5 + (i * 37) % 200);
    std::replace(text.begin(), text.end(), '\n', ' ');
    texts.push_back(text);
  }
  return texts;
}

// Everything in `dir` whose name contains ".tmp-" (a leftover temporary).
size_t leftovers(const fs::path& dir) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) ++count;
  return count;
}

TEST(Prepare, JsonlRoundTripAndSpmEncodeCounts) {
  const auto dir = fresh_dir("jsonl");
  const auto texts = single_line_texts(60, 100);
  write_file(dir / "docs.jsonl", jsonl_of_texts(texts));
  const auto manifest = cream::data::prepare(options_for(dir / "out", {dir / "docs.jsonl"}));
  const Tokenizer tokenizer(test_tokenizer());
  const auto reference = spm_encode_lines(test_tokenizer(), texts);
  const TokenDataset data(dir / "out");
  ASSERT_EQ(data.num_documents(), texts.size());
  uint64_t total = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto doc = data.document(i);
    ASSERT_FALSE(doc.empty());
    EXPECT_EQ(doc.front(), tokenizer.bos_id());
    EXPECT_EQ(doc.size(), reference[i].size() + 1) << "spm_encode count + BOS, document " << i;
    EXPECT_EQ(std::vector<int>(doc.begin() + 1, doc.end()), reference[i]);
    EXPECT_EQ(tokenizer.decode(doc), texts[i]);
    total += doc.size();
  }
  EXPECT_EQ(manifest.tokens, total);
  EXPECT_EQ(manifest.documents, texts.size());
  EXPECT_EQ(manifest.dtype, cream::data::TokenDtype::kUint16);
  EXPECT_EQ(manifest.tokenizer_sha256, tokenizer.sha256());
  ASSERT_EQ(manifest.inputs.size(), 1u);
  EXPECT_EQ(manifest.inputs[0].format, "jsonl");
  EXPECT_EQ(manifest.inputs[0].tokens, total);
  // The manifest on disk says the same.
  const auto on_disk = cream::data::read_manifest(dir / "out");
  EXPECT_EQ(cream::data::manifest_to_json(on_disk), cream::data::manifest_to_json(manifest));
  EXPECT_EQ(fs::file_size(dir / "out" / "tokens-00000.bin"), total * 2);
  EXPECT_EQ(leftovers(dir), 0u);
  fs::remove_all(dir);
}

TEST(Prepare, PlainTextFilesAreOneDocumentEachByteExact) {
  const auto dir = fresh_dir("text");
  const std::string multi_line = generated_text(5, 400) + "\n\n  indented line\ttab \xe2\x82\xac\n";
  const std::string one_line = "just one line without a break";
  write_file(dir / "a.txt", multi_line);
  write_file(dir / "b.md", one_line);
  auto options = options_for(dir / "out", {dir / "a.txt", dir / "b.md"});
  options.append_eos = true;
  const auto manifest = cream::data::prepare(options);
  const Tokenizer tokenizer(test_tokenizer());
  const TokenDataset data(dir / "out");
  ASSERT_EQ(data.num_documents(), 2u);
  EXPECT_EQ(tokenizer.decode(data.document(0)), multi_line);
  EXPECT_EQ(tokenizer.decode(data.document(1)), one_line);
  const auto reference = spm_encode_lines(test_tokenizer(), {one_line});
  EXPECT_EQ(data.document_length(1), reference[0].size() + 2) << "BOS + spm_encode ids + EOS";
  EXPECT_EQ(data.document(1).back(), tokenizer.eos_id());
  EXPECT_EQ(data.document(0).front(), tokenizer.bos_id());
  EXPECT_TRUE(manifest.eos_appended);
  EXPECT_EQ(manifest.inputs[0].format, "text");
  fs::remove_all(dir);
}

TEST(Prepare, OutputIsIdenticalForAnyThreadCountAndChunking) {
  const auto dir = fresh_dir("threads");
  write_file(dir / "a.jsonl", jsonl_of_texts(single_line_texts(150, 300)));
  write_file(dir / "b.txt", generated_text(9, 500));
  write_file(dir / "c.jsonl", jsonl_of_texts(single_line_texts(80, 900)));
  std::vector<std::string> shard_bytes;
  for (int threads : {1, 2, 5}) {
    auto options = options_for(dir / ("out" + std::to_string(threads)), {dir / "a.jsonl", dir / "b.txt", dir / "c.jsonl"});
    options.threads = threads;
    options.chunk_bytes = threads == 1 ? (1 << 20) : 512;  // many small blocks with several threads
    cream::data::prepare(options);
    shard_bytes.push_back(cream::util::read_text_file(options.out / "tokens-00000.bin") +
                          cream::util::read_text_file(options.out / "index-00000.bin"));
  }
  EXPECT_EQ(shard_bytes[0], shard_bytes[1]);
  EXPECT_EQ(shard_bytes[0], shard_bytes[2]);
  fs::remove_all(dir);
}

TEST(Prepare, SmallShardsSplitDocumentsAcrossFilesAndReadBackTheSame) {
  const auto dir = fresh_dir("shards");
  write_file(dir / "a.jsonl", jsonl_of_texts(single_line_texts(40, 50)));
  cream::data::prepare(options_for(dir / "one", {dir / "a.jsonl"}));
  auto options = options_for(dir / "many", {dir / "a.jsonl"});
  options.max_shard_tokens = 37;
  const auto manifest = cream::data::prepare(options);
  const TokenDataset one(dir / "one"), many(dir / "many");
  EXPECT_GT(manifest.shards.size(), 5u);
  for (const auto& shard : manifest.shards) EXPECT_LE(shard.tokens, 37u);
  ASSERT_EQ(one.num_documents(), many.num_documents());
  for (uint64_t i = 0; i < one.num_documents(); ++i) EXPECT_EQ(one.document(i), many.document(i)) << i;
  fs::remove_all(dir);
}

TEST(Prepare, InputIdsAreKeptWithOneBos) {
  const auto dir = fresh_dir("ids");
  write_file(dir / "ids.jsonl",
             "{\"input_ids\": [5, 6, 7]}\n"
             "\n"
             "{\"input_ids\": [1, 8, 9]}\n"
             "{\"input_ids\": []}\n"
             "   \n"
             "{\"input_ids\": [399]}\n");
  const auto manifest = cream::data::prepare(options_for(dir / "out", {dir / "ids.jsonl"}));
  const TokenDataset data(dir / "out");
  ASSERT_EQ(data.num_documents(), 3u);
  EXPECT_EQ(data.document(0), (std::vector<int32_t>{1, 5, 6, 7}));
  EXPECT_EQ(data.document(1), (std::vector<int32_t>{1, 8, 9}));
  EXPECT_EQ(data.document(2), (std::vector<int32_t>{1, 399}));
  EXPECT_EQ(manifest.empty_documents, 1u);
  EXPECT_EQ(manifest.blank_lines, 2u);
  EXPECT_EQ(manifest.tokens, 9u);
  fs::remove_all(dir);
}

TEST(Prepare, CustomTextField) {
  const auto dir = fresh_dir("field");
  write_file(dir / "d.json", jsonl_of_texts({"the con ter", "pre ment"}, "content"));
  auto options = options_for(dir / "out", {dir / "d.json"});
  options.text_field = "content";
  cream::data::prepare(options);
  const Tokenizer tokenizer(test_tokenizer());
  const TokenDataset data(dir / "out");
  ASSERT_EQ(data.num_documents(), 2u);
  EXPECT_EQ(tokenizer.decode(data.document(1)), "pre ment");
  fs::remove_all(dir);
}

// Each bad input fails with one line naming the problem, and leaves no output.
TEST(Prepare, ProgressShowsElapsedTime) {
  const auto dir = fresh_dir("progress");
  write_file(dir / "a.jsonl", jsonl_of_texts(single_line_texts(20, 5)));
  auto options = options_for(dir / "out", {dir / "a.jsonl"});
  options.progress = true;
  testing::internal::CaptureStderr();
  cream::data::prepare(options);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("prepare: 20 documents, "), std::string::npos) << err;
  EXPECT_NE(err.find(" tokens/s, elapsed "), std::string::npos) << err;
  fs::remove_all(dir);
}

TEST(Prepare, ErrorsNameTheProblemAndLeaveNothingBehind) {
  const auto dir = fresh_dir("errors");
  const auto good = dir / "good.jsonl";
  write_file(good, jsonl_of_texts(single_line_texts(30, 7)));
  struct Case {
    std::string name, contents;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"malformed.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"ok\"}\n{\"text\": broken\n", {"malformed.jsonl:3", "malformed JSON"}},
      {"nofield.jsonl", "{\"text\": \"ok\"}\n{\"body\": \"no text here\"}\n", {"nofield.jsonl:2", "'text'", "missing"}},
      {"notstring.jsonl", "{\"text\": 42}\n", {"notstring.jsonl:1", "'text'", "not a string"}},
      {"bigid.jsonl", "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 400]}\n", {"bigid.jsonl:2", "400", "vocabulary"}},
      {"negid.jsonl", "{\"input_ids\": [-3]}\n", {"negid.jsonl:1", "-3", "vocabulary"}},
      {"floatid.jsonl", "{\"input_ids\": [1.5]}\n", {"floatid.jsonl:1", "not an integer"}},
      {"notobject.jsonl", "[1, 2, 3]\n", {"notobject.jsonl:1", "object"}},
      {"empty.jsonl", "\n{\"text\": \"\"}\n", {"empty data set"}},
      // Never tokenize compressed or binary bytes as text: told by content, not by name.
      {"looks_plain.txt", "\xfd" "7zXZ\x00\x00\x04", {"looks_plain.txt", "xz-compressed input"}},
      {"train.jsonl", "BZh91AY&SY", {"train.jsonl", "bzip2-compressed input"}},
      {"binary.txt", std::string("hello\0world", 11), {"binary.txt: byte offset 5", "not UTF-8 text (byte 0x00)"}},
      {"latin1.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"caf\xe9\"}\n",
       {"latin1.jsonl: byte offset 28 (line 2)", "(byte 0xe9)"}},
  };
  for (const auto& c : cases) {
    write_file(dir / c.name, c.contents);
    // The bad file comes after a good one: the error must still be found and nothing written.
    auto options = options_for(dir / "out", {good, dir / c.name});
    if (c.name == "empty.jsonl") options.inputs = {dir / c.name};
    options.threads = 3;
    options.chunk_bytes = 64;
    SCOPED_TRACE(c.name);
    expect_error([&] { cream::data::prepare(options); }, c.fragments);
    EXPECT_FALSE(fs::exists(dir / "out")) << c.name;
    EXPECT_EQ(leftovers(dir), 0u) << c.name;
  }
  // Missing input, non-SentencePiece tokenizer, existing output.
  expect_error([&] { cream::data::prepare(options_for(dir / "out", {good, dir / "missing.jsonl"})); },
               {(dir / "missing.jsonl").string(), "not found"});
  write_file(dir / "ranks.tiktoken", "IQ== 0\nIg== 1\n");
  auto bad_tokenizer = options_for(dir / "out", {good});
  bad_tokenizer.tokenizer = dir / "ranks.tiktoken";
  expect_error([&] { cream::data::prepare(bad_tokenizer); }, {"ranks.tiktoken", "not a SentencePiece model"});
  EXPECT_FALSE(fs::exists(dir / "out"));
  fs::create_directories(dir / "out");
  write_file(dir / "out" / "keep.txt", "precious");
  expect_error([&] { cream::data::prepare(options_for(dir / "out", {good})); }, {(dir / "out").string(), "already exists"});
  EXPECT_TRUE(fs::exists(dir / "out" / "keep.txt"));
  auto forced = options_for(dir / "out", {good});
  forced.force = true;
  cream::data::prepare(forced);
  EXPECT_FALSE(fs::exists(dir / "out" / "keep.txt"));
  EXPECT_TRUE(fs::exists(dir / "out" / "manifest.json"));
  EXPECT_EQ(leftovers(dir), 0u);
  fs::remove_all(dir);
}

TEST(TokenDataset, DetectsShardsThatDisagreeWithTheManifest) {
  const auto dir = fresh_dir("mismatch");
  write_file(dir / "a.jsonl", jsonl_of_texts(single_line_texts(20, 11)));
  auto options = options_for(dir / "out", {dir / "a.jsonl"});
  options.max_shard_tokens = 200;
  cream::data::prepare(options);
  const auto out = dir / "out";
  const auto tokens1 = out / "tokens-00001.bin";
  const auto size = fs::file_size(tokens1);
  fs::resize_file(tokens1, size - 2);
  expect_error([&] { TokenDataset data(out); }, {tokens1.string(), "size"});
  fs::resize_file(tokens1, size);
  EXPECT_NO_THROW(TokenDataset data(out));
  const auto index0 = out / "index-00000.bin";
  fs::resize_file(index0, fs::file_size(index0) + 8);
  expect_error([&] { TokenDataset data(out); }, {index0.string()});
  fs::resize_file(index0, fs::file_size(index0) - 8);
  fs::remove(out / "tokens-00002.bin");
  expect_error([&] { TokenDataset data(out); }, {"tokens-00002.bin", "missing"});
  // A manifest whose totals do not add up.
  auto json = nlohmann::json::parse(cream::util::read_text_file(out / "manifest.json"));
  json["tokens"] = json["tokens"].get<uint64_t>() + 1;
  write_file(out / "manifest.json", json.dump());
  expect_error([&] { TokenDataset data(out); }, {"manifest.json", "tokens"});
  expect_error([&] { TokenDataset data(dir / "nowhere"); }, {(dir / "nowhere").string()});
  fs::remove_all(dir);
}

TEST(TokenDataset, CheckCompatibleRefusesOtherTokenizersAndLargerVocabularies) {
  const auto dir = fresh_dir("compat");
  write_file(dir / "a.jsonl", jsonl_of_texts({"the con", "ex tion"}));
  cream::data::prepare(options_for(dir / "out", {dir / "a.jsonl"}));
  const TokenDataset data(dir / "out");
  const Tokenizer tokenizer(test_tokenizer());
  EXPECT_NO_THROW(data.check_compatible(tokenizer.sha256(), tokenizer.vocab_size()));
  EXPECT_NO_THROW(data.check_compatible(tokenizer.sha256(), tokenizer.vocab_size() + 1));  // padded embedding
  expect_error([&] { data.check_compatible(std::string(64, '0'), 32000); }, {"different tokenizer", tokenizer.sha256()});
  expect_error([&] { data.check_compatible(tokenizer.sha256(), tokenizer.vocab_size() - 1); }, {"larger", "vocab_size"});
  fs::remove_all(dir);
}

}  // namespace
