// The two tokenizer kinds behind io::Tokenizer: SentencePiece (tokenizer.model) and
// Hugging Face's tokenizer.json (byte-level BPE). Private to src/io.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cream::io::detail {

class TokenizerBackend {
 public:
  virtual ~TokenizerBackend() = default;
  virtual void encode_append(std::string_view text, std::vector<int32_t>& out) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;  // ids checked by the caller
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
  virtual int pad_id() const = 0;
  virtual int unk_id() const = 0;
  virtual std::string piece(int id) const = 0;  // id checked by the caller
  virtual int piece_to_id(std::string_view piece) const = 0;
};

// `bytes` is the file's content. Problems throw cream::Error naming `path` (and the field).
std::unique_ptr<TokenizerBackend> make_sentencepiece(const std::filesystem::path& path, const std::string& bytes);
std::unique_ptr<TokenizerBackend> make_hf_json(const std::filesystem::path& path, const std::string& bytes);

}  // namespace cream::io::detail
