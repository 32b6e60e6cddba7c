#include "cream/data/prepare.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string_view>
#include <iostream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "cream/io/tokenizer.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/log.h"
#include "document_encoder.h"
#include "ordered_pool.h"
#include "shard_writer.h"
#include "byte_source.h"
#include "text_check.h"

namespace cream::data {
namespace {

namespace fs = std::filesystem;

// By name, after any compression suffix: "train.jsonl.zst" is JSONL.
bool is_jsonl_path(const fs::path& path) {
  const auto ext = without_compression_suffix(path).extension().string();
  return ext == ".jsonl" || ext == ".json";
}

// Cuts the inputs into EncodeTasks: JSONL files in blocks of whole lines of about
// `chunk_bytes`, plain-text files whole (one document each).
class InputReader {
 public:
  InputReader(const std::vector<fs::path>& inputs, size_t chunk_bytes) : inputs_(inputs), chunk_bytes_(chunk_bytes) {
    files_before_.push_back(0);  // files_before_[i]: bytes of the files before input i
    for (const auto& input : inputs_) files_before_.push_back(files_before_.back() + fs::file_size(input));
  }

  bool next(EncodeTask& task) {
    while (current_ < inputs_.size()) {
      if (!source_) open_current();
      if (produce(task)) return true;
      source_.reset();
      ++current_;
    }
    return false;
  }

  uint64_t bytes_read() const { return bytes_read_; }

  // Input bytes consumed as the files lie on disk (compressed bytes for compressed files),
  // and their total: what the progress line's ETA is measured against.
  uint64_t file_bytes_done() const {
    return files_before_[std::min(current_, inputs_.size())] + (source_ ? source_->file_position() : 0);
  }
  uint64_t file_bytes_total() const { return files_before_.back(); }

 private:
  void open_current() {
    // Plain, gzip or zstd by the file's magic bytes; other compressions are refused.
    source_ = open_byte_source(inputs_[current_]);
    carry_.clear();
    file_offset_ = 0;
    line_ = 1;
    whole_file_done_ = false;
  }

  // Every byte handed to the tokenizer is UTF-8 text: a binary file is refused at the
  // first byte that is not, by file, byte offset and (JSONL) line.
  void check_text(const EncodeTask& task) {
    const auto bad = first_non_text_byte(task.bytes);
    if (bad) {
      std::string where = inputs_[current_].string() + ": byte offset " + std::to_string(file_offset_ + *bad);
      if (std::string(source_->format()) != "plain") where += " of the decompressed " + std::string(source_->format()) + " stream";
      if (task.jsonl)
        where += " (line " +
                 std::to_string(task.first_line + std::count(task.bytes.begin(), task.bytes.begin() + *bad, '\n')) + ")";
      throw Error(where + ": not UTF-8 text (byte 0x" + hex_byte(task.bytes[*bad]) +
                  "); data prepare reads UTF-8 plain text and JSONL, never binary files");
    }
    file_offset_ += task.bytes.size();
  }

  static std::string hex_byte(char c) {
    static const char* digits = "0123456789abcdef";
    const auto value = static_cast<unsigned char>(c);
    return {digits[value >> 4], digits[value & 15]};
  }

  std::string read_some(size_t size) {
    std::string bytes(size, '\0');
    size_t filled = 0;
    while (filled < size) {  // a decompressor may hand out less than asked before the end
      const size_t n = source_->read(bytes.data() + filled, size - filled);
      if (n == 0) break;
      filled += n;
    }
    bytes.resize(filled);
    bytes_read_ += bytes.size();
    return bytes;
  }

  bool produce(EncodeTask& task) {
    task = EncodeTask{};
    task.input_index = current_;
    task.file = inputs_[current_].string();
    task.jsonl = is_jsonl_path(inputs_[current_]);
    if (!task.jsonl) {  // one document: the whole file
      if (whole_file_done_) return false;
      whole_file_done_ = true;
      std::string bytes;
      for (std::string part; !(part = read_some(chunk_bytes_ * 4)).empty();) bytes += part;
      task.bytes = std::move(bytes);
      check_text(task);
      return true;
    }
    // JSONL: a block that ends at a line break (or at the end of the file).
    std::string block = std::move(carry_);
    carry_.clear();
    if (line_ == 1 && block.empty() && file_offset_ == 0) {
      if (produce_json_array(task)) return true;
      block = std::move(carry_);
      carry_.clear();
    }
    for (;;) {
      const std::string more = read_some(chunk_bytes_);
      block += more;
      const size_t last_break = block.rfind('\n');
      if (more.empty() || (last_break != std::string::npos && block.size() >= chunk_bytes_ / 2)) {
        if (!more.empty() && last_break != std::string::npos) {
          carry_ = block.substr(last_break + 1);
          block.resize(last_break + 1);
        }
        break;
      }
    }
    if (block.empty()) return false;
    task.first_line = line_;
    line_ += static_cast<uint64_t>(std::count(block.begin(), block.end(), '\n'));
    task.bytes = std::move(block);
    check_text(task);
    return true;
  }

  // A .json file whose first character is '[' is one JSON array, handed over whole.
  bool produce_json_array(EncodeTask& task) {
    if (without_compression_suffix(inputs_[current_]).extension() != ".json") return false;
    std::string bytes = read_some(chunk_bytes_);
    const auto first = bytes.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || bytes[first] != '[') {
      carry_ = std::move(bytes);  // JSON lines after all: the normal path continues from here
      return false;
    }
    for (std::string part; !(part = read_some(chunk_bytes_ * 4)).empty();) bytes += part;
    task.json_array = true;
    task.bytes = std::move(bytes);
    check_text(task);
    return true;
  }

  const std::vector<fs::path>& inputs_;
  size_t chunk_bytes_;
  size_t current_ = 0;
  std::unique_ptr<ByteSource> source_;
  std::string carry_;
  uint64_t line_ = 1;
  bool whole_file_done_ = false;
  uint64_t bytes_read_ = 0;
  uint64_t file_offset_ = 0;  // where the next task's bytes start in the current file
  std::vector<uint64_t> files_before_;
};

// One line on stderr, refreshed about once a second (every 10 s when not a terminal):
// documents, tokens, tokens/s, elapsed time and, from the share of the input files
// consumed, the time left.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), interactive_(enabled && ::isatty(2)) {}

  void update(uint64_t documents, uint64_t tokens, uint64_t bytes, uint64_t file_done, uint64_t file_total,
              bool final = false) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    if (!final && now - last_ < std::chrono::milliseconds(interactive_ ? 500 : 10000)) return;
    last_ = now;
    char eta[48] = "";
    if (!final && file_done > 0 && file_done < file_total)
      std::snprintf(eta, sizeof(eta), ", ETA %.0f s",
                    seconds * static_cast<double>(file_total - file_done) / static_cast<double>(file_done));
    char line[240];
    std::snprintf(line, sizeof(line), "prepare: %llu documents, %llu tokens, %.1f MB read, %.0f tokens/s, elapsed %.0f s%s",
                  static_cast<unsigned long long>(documents), static_cast<unsigned long long>(tokens), bytes / 1e6,
                  seconds > 0 ? tokens / seconds : 0.0, seconds, eta);
    if (interactive_) std::cerr << '\r' << line << (final ? "\n" : "") << std::flush;
    else std::cerr << line << '\n';
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_, interactive_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

void check_inputs(const PrepareOptions& options) {
  CREAM_CHECK(!options.inputs.empty(), "data prepare: no --input files given");
  for (const auto& input : options.inputs) {
    CREAM_CHECK(fs::exists(input), input.string() + ": input file not found");
    CREAM_CHECK(fs::is_regular_file(input), input.string() + ": input is not a regular file");
  }
  CREAM_CHECK(!options.text_field.empty(), "data prepare: --text-field must not be empty");
  CREAM_CHECK(options.max_shard_tokens > 0, "data prepare: the max shard size must be at least 1 token");
}

Manifest base_manifest(const PrepareOptions& options, const io::Tokenizer& tokenizer) {
  Manifest m;
  m.tokenizer_path = options.tokenizer.string();
  m.tokenizer_sha256 = tokenizer.sha256();
  m.vocab_size = tokenizer.vocab_size();
  m.bos_id = tokenizer.bos_id();
  m.eos_id = tokenizer.eos_id();
  m.eos_appended = options.append_eos;
  m.dtype = dtype_for_vocab(m.vocab_size);
  m.max_shard_tokens = options.max_shard_tokens;
  m.text_field = options.text_field;
  for (const auto& input : options.inputs) {
    InputInfo info;
    info.path = input.string();
    info.format = is_jsonl_path(input) ? "jsonl" : "text";
    m.inputs.push_back(info);
  }
  return m;
}

// Adds one worker result to the shards and the counts; the first error (in input
// order) stops everything.
void consume(const EncodeResult& result, ShardWriter& writer, Manifest& m) {
  CREAM_CHECK(result.error.empty(), result.error);
  const int32_t* ids = result.tokens.data();
  for (uint64_t length : result.doc_lengths) {
    writer.add_document(ids, length);
    ids += length;
  }
  InputInfo& input = m.inputs[result.input_index];
  input.documents += result.doc_lengths.size();
  input.tokens += result.tokens.size();
  input.empty_documents += result.empty_documents;
  input.blank_lines += result.blank_lines;
  m.documents += result.doc_lengths.size();
  m.tokens += result.tokens.size();
  m.empty_documents += result.empty_documents;
  m.blank_lines += result.blank_lines;
}

void fill_folder(const fs::path& folder, const PrepareOptions& options, const io::Tokenizer& tokenizer,
                 Manifest& m) {
  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const EncodeSettings settings{options.text_field, options.append_eos, options.format == "sharegpt",
                                parse_chat_template(options.chat_template)};
  ShardWriter writer(folder, m.dtype, m.max_shard_tokens);
  InputReader reader(options.inputs, options.chunk_bytes);
  Progress progress(options.progress);
  const uint64_t file_total = reader.file_bytes_total();
  {
    OrderedPool<EncodeTask, EncodeResult> pool(
        threads, [&](const EncodeTask& task) { return encode_task(task, tokenizer, settings); });
    const size_t max_in_flight = static_cast<size_t>(threads) * 16;  // bounds memory; deep enough that one long document does not idle the other workers
    EncodeTask task;
    for (;;) {
      while (pool.in_flight() < max_in_flight && reader.next(task)) pool.submit(std::move(task));
      if (pool.in_flight() == 0) break;
      consume(pool.collect(), writer, m);
      progress.update(m.documents, m.tokens, reader.bytes_read(), reader.file_bytes_done(), file_total);
    }
  }
  m.shards = writer.finish();
  progress.update(m.documents, m.tokens, reader.bytes_read(), file_total, file_total, /*final=*/true);
  CREAM_CHECK(m.documents > 0, "data prepare: empty data set: no documents in the inputs (" +
                                   std::to_string(m.empty_documents) + " empty documents, " +
                                   std::to_string(m.blank_lines) + " blank lines)");
  util::write_file_atomic(folder / kManifestFileName, manifest_to_json(m).dump(2) + "\n");
}

}  // namespace

Manifest prepare(const PrepareOptions& options) {
  check_inputs(options);
  CREAM_CHECK(!options.out.empty(), "data prepare: --out is required");
  CREAM_CHECK(options.force || !fs::exists(options.out),
              options.out.string() + ": already exists (use --force to replace it)");
  const io::Tokenizer tokenizer(options.tokenizer);
  Manifest manifest = base_manifest(options, tokenizer);
  const auto start = std::chrono::steady_clock::now();
  util::create_folder_atomic(
      options.out, [&](const fs::path& folder) { fill_folder(folder, options, tokenizer, manifest); }, options.force);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("data prepare: {} documents, {} tokens in {} shard(s) ({}), {} empty documents skipped, {:.0f} tokens/s -> {}",
            manifest.documents, manifest.tokens, manifest.shards.size(), dtype_name(manifest.dtype),
            manifest.empty_documents, seconds > 0 ? manifest.tokens / seconds : 0.0, options.out.string());
  return manifest;
}

}  // namespace cream::data
