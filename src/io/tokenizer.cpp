#include "cream/io/tokenizer.h"

#include <algorithm>
#include <new>

#include <dlfcn.h>
#include <sentencepiece_processor.h>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/sha256.h"

namespace cream::io {
namespace {

// A serialized SentencePiece ModelProto starts with its repeated `pieces` field
// (field 1, length-delimited: tag byte 0x0A). Checking it first gives a clear
// message for the common mistakes (tiktoken ranks, tokenizer.json) instead of a
// protobuf parse error, and catches inputs protobuf would accept (an empty file).
std::string why_not_sentencepiece(const std::string& bytes) {
  if (bytes.empty()) return "the file is empty";
  if (bytes[0] == '{' || bytes[0] == '[') return "it looks like JSON (a tokenizer.json?)";
  if (static_cast<unsigned char>(bytes[0]) != 0x0A) {
    const bool looks_text = std::all_of(bytes.begin(), bytes.begin() + std::min<size_t>(bytes.size(), 4096),
                                        [](char c) { return c == '\n' || c == '\r' || c == '\t' ||
                                                            static_cast<unsigned char>(c) >= 0x20; });
    return looks_text ? "it is a text file (tiktoken / BPE ranks?)" : "unrecognised binary content";
  }
  return "";
}

// Debian's libsentencepiece.so.0 embeds and EXPORTS its own protobuf 3.14, while
// LibTorch pulls in the system libprotobuf 3.21: linked into one executable, the
// two interpose each other's symbols and the process crashes before main (or
// protobuf aborts on a version check). So the library is opened privately with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND) and used only through virtual calls plus the
// three non-virtual symbols looked up below; nothing in cream links against it.
class SentencePieceLibrary {
 public:
  static const SentencePieceLibrary& get() {
    static const SentencePieceLibrary library;
    return library;
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> new_processor() const {
    void* memory = ::operator new(sizeof(sentencepiece::SentencePieceProcessor));
    construct_(memory);  // virtual destructor: unique_ptr's delete goes through the vtable
    return std::unique_ptr<sentencepiece::SentencePieceProcessor>(
        static_cast<sentencepiece::SentencePieceProcessor*>(memory));
  }

  // Runs `call` (which returns a util::Status) and returns "" on success, else the
  // status text. The Status is built in place and destroyed with the library's own
  // destructor so no reference to its symbols is compiled into cream.
  template <typename Call>
  std::string status_of(Call&& call) const {
    alignas(sentencepiece::util::Status) unsigned char storage[sizeof(sentencepiece::util::Status)];
    auto* status = new (storage) sentencepiece::util::Status(call());
    std::string message = status->ok() ? std::string() : to_string_(status);
    destroy_status_(status);
    return message;
  }

 private:
  SentencePieceLibrary() {
#if defined(__SANITIZE_ADDRESS__)
    const int flags = RTLD_NOW | RTLD_LOCAL;  // AddressSanitizer refuses RTLD_DEEPBIND
#else
    const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#endif
    handle_ = ::dlopen("libsentencepiece.so.0", flags);
    if (!handle_) handle_ = ::dlopen("libsentencepiece.so", flags);
    CREAM_CHECK(handle_ != nullptr, std::string("cannot load the SentencePiece library: ") + ::dlerror());
    construct_ = reinterpret_cast<void (*)(void*)>(symbol("_ZN13sentencepiece22SentencePieceProcessorC1Ev"));
    destroy_status_ = reinterpret_cast<void (*)(void*)>(symbol("_ZN13sentencepiece4util6StatusD1Ev"));
    // Itanium ABI: a member function returning std::string takes the result slot
    // first and `this` second, exactly like this free-function signature.
    to_string_ = reinterpret_cast<std::string (*)(const void*)>(
        symbol("_ZNK13sentencepiece4util6Status8ToStringB5cxx11Ev"));
  }

  void* symbol(const char* name) const {
    void* address = ::dlsym(handle_, name);
    CREAM_CHECK(address != nullptr, std::string("SentencePiece library lacks ") + name);
    return address;
  }

  void* handle_ = nullptr;  // never closed: processors may live until exit
  void (*construct_)(void*) = nullptr;
  void (*destroy_status_)(void*) = nullptr;
  std::string (*to_string_)(const void*) = nullptr;
};

}  // namespace

Tokenizer::Tokenizer(const std::filesystem::path& model_path)
    : path_(model_path), processor_(SentencePieceLibrary::get().new_processor()) {
  CREAM_CHECK(std::filesystem::is_regular_file(model_path),
              model_path.string() + ": tokenizer file not found");
  const std::string bytes = util::read_text_file(model_path);
  const std::string problem = why_not_sentencepiece(bytes);
  CREAM_CHECK(problem.empty(), model_path.string() + ": not a SentencePiece model (" + problem + ")");
  const std::string error =
      SentencePieceLibrary::get().status_of([&] { return processor_->LoadFromSerializedProto(bytes); });
  CREAM_CHECK(error.empty(), model_path.string() + ": not a SentencePiece model (" + error + ")");
  CREAM_CHECK(processor_->GetPieceSize() > 0, model_path.string() + ": SentencePiece model has no pieces");
  sha256_ = util::sha256_hex(bytes);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

static_assert(sizeof(int) == sizeof(int32_t), "SentencePiece ids are int; we store int32_t");

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const std::string error = SentencePieceLibrary::get().status_of([&] { return processor_->Encode(text, &ids); });
  CREAM_CHECK(error.empty(), path_.string() + ": encoding failed: " + error);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  const std::vector<int32_t> ids = encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int size = vocab_size();
  for (int32_t id : ids)
    CREAM_CHECK(id >= 0 && id < size, "decode: token id " + std::to_string(id) +
                                          " is outside the vocabulary of " + path_.string() + " (size " +
                                          std::to_string(size) + ")");
  std::string text;
  const std::vector<int> plain_ids(ids.begin(), ids.end());
  const std::string error =
      SentencePieceLibrary::get().status_of([&] { return processor_->Decode(plain_ids, &text); });
  CREAM_CHECK(error.empty(), path_.string() + ": decoding failed: " + error);
  return text;
}

int Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int Tokenizer::bos_id() const { return processor_->bos_id(); }
int Tokenizer::eos_id() const { return processor_->eos_id(); }
int Tokenizer::pad_id() const { return processor_->pad_id(); }
int Tokenizer::unk_id() const { return processor_->unk_id(); }

std::string Tokenizer::piece(int id) const {
  CREAM_CHECK(id >= 0 && id < vocab_size(), "piece: token id " + std::to_string(id) +
                                                " is outside the vocabulary of " + path_.string());
  return processor_->IdToPiece(id);
}

int Tokenizer::piece_to_id(std::string_view piece) const { return processor_->PieceToId(piece); }

}  // namespace cream::io
