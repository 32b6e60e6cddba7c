// cream::io::Tokenizer against the SentencePiece command-line tools (spm_encode,
// the .vocab file written by spm_train) and sha256sum.
#include <gtest/gtest.h>

#include <algorithm>

#include "cream/io/tokenizer.h"
#include "cream/util/fs.h"
#include "cream/util/sha256.h"
#include "data_test_support.h"

namespace {

using cream::io::Tokenizer;
using namespace cream::test;

TEST(Tokenizer, VocabularyAndSpecialIdsMatchTheTrainedModel) {
  const Tokenizer tokenizer(test_tokenizer());
  // spm_train writes one "piece<TAB>score" line per id into tok.vocab.
  std::ifstream vocab(fs::path(test_tokenizer()).replace_extension(".vocab"));
  std::vector<std::string> pieces;
  for (std::string line; std::getline(vocab, line);) pieces.push_back(line.substr(0, line.find('\t')));
  ASSERT_EQ(tokenizer.vocab_size(), static_cast<int>(pieces.size()));
  EXPECT_EQ(tokenizer.unk_id(), 0);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.pad_id(), -1);
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    EXPECT_EQ(tokenizer.piece(id), pieces[id]) << id;
    EXPECT_EQ(tokenizer.piece_to_id(pieces[id]), id) << pieces[id];
  }
  EXPECT_EQ(tokenizer.piece_to_id("no-such-piece-here"), tokenizer.unk_id());
  EXPECT_THROW(tokenizer.piece(tokenizer.vocab_size()), cream::Error);
}

TEST(Tokenizer, EncodeMatchesSpmEncode) {
  const Tokenizer tokenizer(test_tokenizer());
  std::vector<std::string> lines;
  for (int i = 0; i < 20; ++i) {
    std::string line = generated_text(1000 + i, 50);
    std::replace(line.begin(), line.end(), '\n', ' ');
    lines.push_back(line);
  }
  lines.push_back("Unseen characters: \xe2\x82\xac 100, caf\xc3\xa9, \xf0\x9f\x98\x80 and   three spaces");
  const auto reference = spm_encode_lines(test_tokenizer(), lines);
  ASSERT_EQ(reference.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto ids = tokenizer.encode(lines[i]);
    EXPECT_EQ(std::vector<int>(ids.begin(), ids.end()), reference[i]) << lines[i];
  }
}

TEST(Tokenizer, DecodeInvertsEncodeExactly) {
  const Tokenizer tokenizer(test_tokenizer());
  for (const std::string& text :
       {generated_text(7, 300), std::string("  leading spaces, trailing\n\n"), std::string("tabs\tand \xe2\x82\xac\xf0\x9f\x98\x80"),
        std::string("")}) {
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text)), text);
  }
  // Control tokens decode to nothing.
  auto ids = tokenizer.encode("the con");
  ids.insert(ids.begin(), tokenizer.bos_id());
  ids.push_back(tokenizer.eos_id());
  EXPECT_EQ(tokenizer.decode(ids), "the con");
  EXPECT_THROW(tokenizer.decode({tokenizer.vocab_size()}), cream::Error);
  EXPECT_THROW(tokenizer.decode({-1}), cream::Error);
}

TEST(Tokenizer, Sha256IsThatOfTheFile) {
  const Tokenizer tokenizer(test_tokenizer());
  const std::string reference = run_and_capture("sha256sum " + test_tokenizer().string()).substr(0, 64);
  EXPECT_EQ(tokenizer.sha256(), reference);
  EXPECT_EQ(tokenizer.sha256(), cream::util::sha256_file(test_tokenizer()));
}

TEST(Tokenizer, RefusesFilesThatAreNotSentencePieceModels) {
  const auto dir = fresh_dir("not_spm");
  write_file(dir / "cl100k_base.tiktoken", "IQ== 0\nIg== 1\nIw== 2\nJA== 3\nJQ== 4\n");
  write_file(dir / "tokenizer.json.model", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}");
  write_file(dir / "empty.model", "");
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 17) % 256));
  write_file(dir / "garbage.model", garbage);
  // Starts like a ModelProto (0x0A) but is truncated: protobuf must refuse it.
  std::string model_bytes = cream::util::read_text_file(test_tokenizer());
  write_file(dir / "truncated.model", model_bytes.substr(0, model_bytes.size() / 3));
  for (const char* name : {"cl100k_base.tiktoken", "tokenizer.json.model", "empty.model", "garbage.model", "truncated.model"}) {
    const auto path = dir / name;
    expect_error([&] { Tokenizer tokenizer(path); }, {path.string(), "not a SentencePiece model"});
  }
  expect_error([&] { Tokenizer tokenizer(dir / "missing.model"); }, {(dir / "missing.model").string(), "not found"});
  // A file named *.json is read as tokenizer.json, and refused by the field it lacks.
  write_file(dir / "tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}");
  expect_error([&] { Tokenizer tokenizer(dir / "tokenizer.json"); }, {(dir / "tokenizer.json").string(), "model.vocab"});
  fs::remove_all(dir);
}

}  // namespace
