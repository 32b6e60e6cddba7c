// `cream data prepare`: tokenize documents into memory-mappable token shards.
//
// Inputs: `.jsonl` / `.json` files hold one document per line, either
// {"<text_field>": "..."} (tokenized with SentencePiece) or {"input_ids": [...]}
// (taken as they are after a range check); whitespace-only lines are ignored.
// Any other extension is a plain-text file holding ONE document (the whole file,
// byte for byte). Every document begins with the tokenizer's BOS (input_ids that
// already start with BOS get no second one) and, with append_eos, ends with EOS
// (again not doubled). Empty documents are counted and not written.
// Output order is input order, whatever the number of threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cream/data/manifest.h"

namespace cream::data {

struct PrepareOptions {
  std::filesystem::path tokenizer;            // SentencePiece tokenizer.model
  std::vector<std::filesystem::path> inputs;
  std::filesystem::path out;
  std::string text_field = "text";
  // "text" (JSONL {"text"} / {"input_ids"}, plain text) or "sharegpt" (conversations,
  // include/cream/data/conversation.h) laid out by chat_template.
  std::string format = "text";
  std::string chat_template = "none";
  bool append_eos = false;
  int threads = 0;                            // 0: all available cores
  uint64_t max_shard_tokens = uint64_t(1) << 29;  // 1 GiB of uint16 per shard
  bool force = false;                         // replace an existing `out`
  bool progress = false;                      // progress line with tokens/s on stderr
  size_t chunk_bytes = size_t(1) << 20;       // JSONL bytes handed to a worker at a time
};

// Tokenizes and writes the folder atomically (a temporary sibling renamed at the
// end); on any error nothing is left at `out`. Returns the written manifest.
// Errors (cream::Error, one line): missing input, non-SentencePiece tokenizer,
// malformed JSONL line (file:line), missing/non-string text field (file:line,
// field), an input_ids id outside [0, vocab), no documents at all, an existing
// `out` without force.
Manifest prepare(const PrepareOptions& options);

}  // namespace cream::data
