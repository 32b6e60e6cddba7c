// data prepare reads gzip and zstd inputs as it streams them, told by their magic bytes:
// the shards are byte-identical to those of the same files uncompressed (multi-member
// gzip and multi-frame zstd included, files named with or without a suffix), and a
// truncated stream is an error naming the file, never a silently shorter data set.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#ifdef CREAM_HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef CREAM_HAVE_ZSTD
#include <zstd.h>
#endif

#include "cream/data/prepare.h"
#include "cream/util/fs.h"
#include "data_test_support.h"

namespace {

using namespace cream::test;

std::string jsonl_lines(int count, uint64_t seed) {
  std::string out;
  for (int i = 0; i < count; ++i) out += nlohmann::json{{"text", generated_text(seed + i, 60)}}.dump() + "\n";
  return out;
}

cream::data::PrepareOptions options_for(const fs::path& out, std::vector<fs::path> inputs) {
  cream::data::PrepareOptions options;
  options.tokenizer = test_tokenizer();
  options.inputs = std::move(inputs);
  options.out = out;
  options.threads = 2;
  options.chunk_bytes = 700;  // many blocks, cut inside compressed frames
  options.progress = false;
  return options;
}

std::string shards(const fs::path& folder) {
  return cream::util::read_text_file(folder / "tokens-00000.bin") + cream::util::read_text_file(folder / "index-00000.bin");
}

#ifdef CREAM_HAVE_ZLIB
// Two gzip members, as `cat a.gz b.gz` makes.
void write_gzip(const fs::path& path, const std::string& contents) {
  const size_t half = contents.size() / 2;
  for (int member = 0; member < 2; ++member) {
    gzFile file = gzopen(path.c_str(), member == 0 ? "wb" : "ab");
    ASSERT_NE(file, nullptr);
    const std::string part = member == 0 ? contents.substr(0, half) : contents.substr(half);
    ASSERT_EQ(gzwrite(file, part.data(), static_cast<unsigned>(part.size())), static_cast<int>(part.size()));
    gzclose(file);
  }
}
#endif

#ifdef CREAM_HAVE_ZSTD
// Two zstd frames, as `zstd` writes for concatenated inputs.
void write_zstd(const fs::path& path, const std::string& contents) {
  std::string out;
  const size_t half = contents.size() / 2;
  for (const auto& part : {contents.substr(0, half), contents.substr(half)}) {
    std::string frame(ZSTD_compressBound(part.size()), '\0');
    const size_t n = ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 3);
    ASSERT_FALSE(ZSTD_isError(n));
    out += frame.substr(0, n);
  }
  write_file(path, out);
}
#endif

TEST(CompressedInput, GzipAndZstdGiveTheSameShardsAsPlainFiles) {
#if !defined(CREAM_HAVE_ZLIB) || !defined(CREAM_HAVE_ZSTD)
  GTEST_SKIP() << "this build has no zlib or libzstd";
#else
  const auto dir = fresh_dir("compressed");
  const std::string jsonl = jsonl_lines(120, 7);
  const std::string text = generated_text(99, 3000);
  write_file(dir / "a.jsonl", jsonl);
  write_file(dir / "b.txt", text);
  write_file(dir / "c.jsonl", jsonl_lines(40, 500));
  write_gzip(dir / "a.jsonl.gz", jsonl);
  write_zstd(dir / "b.txt.zst", text);
  write_gzip(dir / "c-gzip-without-suffix.jsonl", jsonl_lines(40, 500));  // told by magic bytes
  const auto plain = cream::data::prepare(options_for(dir / "plain", {dir / "a.jsonl", dir / "b.txt", dir / "c.jsonl"}));
  const auto packed = cream::data::prepare(
      options_for(dir / "packed", {dir / "a.jsonl.gz", dir / "b.txt.zst", dir / "c-gzip-without-suffix.jsonl"}));
  EXPECT_EQ(shards(dir / "packed"), shards(dir / "plain"));
  EXPECT_EQ(packed.documents, plain.documents);
  EXPECT_EQ(packed.inputs[0].format, "jsonl");
  EXPECT_EQ(packed.inputs[1].format, "text");
  fs::remove_all(dir);
#endif
}

TEST(CompressedInput, ATruncatedStreamIsAnErrorNamingTheFile) {
#if !defined(CREAM_HAVE_ZLIB) || !defined(CREAM_HAVE_ZSTD)
  GTEST_SKIP() << "this build has no zlib or libzstd";
#else
  const auto dir = fresh_dir("truncated");
  const std::string jsonl = jsonl_lines(200, 3);
  write_gzip(dir / "cut.jsonl.gz", jsonl);
  write_zstd(dir / "cut.jsonl.zst", jsonl);
  for (const auto& name : {"cut.jsonl.gz", "cut.jsonl.zst"}) {
    SCOPED_TRACE(name);
    const auto path = dir / name;
    const auto bytes = cream::util::read_text_file(path);
    write_file(path, bytes.substr(0, bytes.size() * 2 / 3));
    expect_error([&] { cream::data::prepare(options_for(dir / "out", {path})); }, {path.string()});
    EXPECT_FALSE(fs::exists(dir / "out"));
  }
  fs::remove_all(dir);
#endif
}

}  // namespace
