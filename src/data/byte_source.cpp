#include "byte_source.h"

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <vector>

#ifdef CREAM_HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef CREAM_HAVE_ZSTD
#include <zstd.h>
#endif

#include "cream/util/error.h"
#include "text_check.h"

namespace cream::data {
namespace {

namespace fs = std::filesystem;

class PlainSource : public ByteSource {
 public:
  PlainSource(std::FILE* file, fs::path path) : file_(file), path_(std::move(path)) {}
  ~PlainSource() override { std::fclose(file_); }
  size_t read(char* out, size_t size) override {
    const size_t n = std::fread(out, 1, size, file_);
    CREAM_CHECK(n == size || !std::ferror(file_), path_.string() + ": read error: " + std::strerror(errno));
    return n;
  }
  const char* format() const override { return "plain"; }
  uint64_t file_position() const override { return static_cast<uint64_t>(std::max(0L, std::ftell(file_))); }

 private:
  std::FILE* file_;
  fs::path path_;
};

#ifdef CREAM_HAVE_ZLIB
// zlib's gzread: every member of a multi-member file, as `gzip -d` does.
class GzipSource : public ByteSource {
 public:
  explicit GzipSource(fs::path path) : path_(std::move(path)) {
    file_ = gzopen(path_.c_str(), "rb");
    CREAM_CHECK(file_ != nullptr, path_.string() + ": cannot open gzip input");
    gzbuffer(file_, 1 << 17);
  }
  ~GzipSource() override { gzclose(file_); }
  size_t read(char* out, size_t size) override {
    const int n = gzread(file_, out, static_cast<unsigned>(std::min<size_t>(size, 1u << 30)));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file_, &code);
      throw Error(path_.string() + ": corrupt gzip stream: " + (message ? message : "unknown error"));
    }
    // gzread stops quietly at a truncated end: zlib reports it as Z_BUF_ERROR.
    if (n == 0) {
      int code = 0;
      gzerror(file_, &code);
      CREAM_CHECK(code == Z_OK || code == Z_STREAM_END, path_.string() + ": gzip stream ends early (truncated file?)");
    }
    return static_cast<size_t>(n);
  }
  const char* format() const override { return "gzip"; }
  uint64_t file_position() const override { return static_cast<uint64_t>(std::max<z_off_t>(0, gzoffset(file_))); }

 private:
  fs::path path_;
  gzFile file_ = nullptr;
};
#endif

#ifdef CREAM_HAVE_ZSTD
// ZSTD_decompressStream over the file, frame after frame, as `zstd -d` does.
class ZstdSource : public ByteSource {
 public:
  ZstdSource(std::FILE* file, fs::path path)
      : file_(file), path_(std::move(path)), input_(ZSTD_DStreamInSize()), context_(ZSTD_createDCtx()) {
    CREAM_CHECK(context_ != nullptr, path_.string() + ": cannot create a zstd context");
  }
  ~ZstdSource() override {
    ZSTD_freeDCtx(context_);
    std::fclose(file_);
  }
  size_t read(char* out, size_t size) override {
    ZSTD_outBuffer output{out, size, 0};
    for (;;) {
      // A call that filled the caller's buffer may have more decoded data waiting
      // inside the context: ask for it before reading more input.
      if (in_.pos == in_.size && !output_may_be_pending_) {
        const size_t n = std::fread(input_.data(), 1, input_.size(), file_);
        CREAM_CHECK(n > 0 || !std::ferror(file_), path_.string() + ": read error: " + std::strerror(errno));
        if (n == 0) {
          CREAM_CHECK(frame_done_, path_.string() + ": zstd stream ends early (truncated file?)");
          return 0;
        }
        in_ = ZSTD_inBuffer{input_.data(), n, 0};
      }
      const size_t result = ZSTD_decompressStream(context_, &output, &in_);
      CREAM_CHECK(!ZSTD_isError(result), path_.string() + ": corrupt zstd stream: " + ZSTD_getErrorName(result));
      frame_done_ = result == 0;
      output_may_be_pending_ = output.pos == output.size;
      if (output.pos > 0) return output.pos;
    }
  }
  const char* format() const override { return "zstd"; }
  uint64_t file_position() const override { return static_cast<uint64_t>(std::max(0L, std::ftell(file_))); }

 private:
  std::FILE* file_;
  fs::path path_;
  std::vector<char> input_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  ZSTD_DCtx* context_;
  bool frame_done_ = true;
  bool output_may_be_pending_ = false;
};
#endif

}  // namespace

std::unique_ptr<ByteSource> open_byte_source(const fs::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  CREAM_CHECK(file != nullptr, path.string() + ": cannot open input for reading");
  char head[6] = {};
  const size_t got = std::fread(head, 1, sizeof(head), file);
  std::rewind(file);
  const char* format = compression_format(std::string_view(head, got));
  if (format == nullptr) return std::make_unique<PlainSource>(file, path);
  const std::string name(format);
#ifdef CREAM_HAVE_ZLIB
  if (name == "gzip") {
    std::fclose(file);
    return std::make_unique<GzipSource>(path);
  }
#endif
#ifdef CREAM_HAVE_ZSTD
  if (name == "zstd") return std::make_unique<ZstdSource>(file, path);
#endif
  std::fclose(file);
  const bool known = name == "gzip" || name == "zstd";
  throw Error(path.string() + ": " + name + "-compressed input; " +
              (known ? "this build of cream has no " + name + " support (install the -dev package and rebuild)"
                     : "data prepare reads plain, gzip and zstd files") +
              " (decompress it first)");
}

fs::path without_compression_suffix(const fs::path& path) {
  const auto ext = path.extension();
  return ext == ".gz" || ext == ".zst" || ext == ".zstd" ? path.parent_path() / path.stem() : path;
}

}  // namespace cream::data
