// Turns raw input bytes into token documents (the per-thread half of prepare).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cream/data/prompts.h"
#include "cream/io/tokenizer.h"

namespace cream::data {

// A piece of one input file handed to a worker: a block of whole JSONL lines, or
// the whole content of a plain-text file (one document).
struct EncodeTask {
  size_t input_index = 0;
  std::string file;           // for error messages
  bool jsonl = false;
  bool json_array = false;    // the whole file is one JSON array of documents / conversations
  uint64_t first_line = 1;    // 1-based line number of the block's first line
  std::string bytes;
};

struct EncodeResult {
  size_t input_index = 0;
  std::vector<int32_t> tokens;         // documents concatenated
  std::vector<uint64_t> doc_lengths;   // one entry per written document
  uint64_t empty_documents = 0;
  uint64_t blank_lines = 0;
  std::string error;                   // first error of the block; empty when fine
};

struct EncodeSettings {
  std::string text_field = "text";
  bool append_eos = false;
  // --format sharegpt: each JSON object is a conversation laid out by `chat`.
  bool sharegpt = false;
  ChatTemplate chat = ChatTemplate::none;
};

// Never throws: errors land in EncodeResult::error so that the writer reports the
// FIRST error in input order, whichever thread hit it.
EncodeResult encode_task(const EncodeTask& task, const io::Tokenizer& tokenizer, const EncodeSettings& settings);

}  // namespace cream::data
