// `cream data synth`: synthetic retrieval documents for fine-tuning, built by the same
// prompt builders as the evaluations (prompts.h), written as JSONL for `cream data prepare`.
//
// Example i draws everything from util::Rng::derive(seed, i), so any example can be
// regenerated alone and the file does not depend on how many examples precede it.
// Each example's text is the prompt followed by " " and the answer (no BOS: prepare adds it).
// With context_tokens T > 0 the example is embedded at a uniformly random token offset in T
// tokens of natural text cut from a random place of the haystack:
//   decode(prefix) + "\n\n" + example + "\n\n" + decode(suffix)
// (a separator is left out when its side is empty).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cream/data/prompts.h"
#include "cream/io/tokenizer.h"

namespace cream::data {

// passkey / lines / kv: the eval prompts followed by their answers. repeat: a passage of
// random units, then the same passage again, once or more ("Copy: P\nAgain: P\nAgain: P"):
// only copying (induction: predict what followed the previous occurrence of the current
// token) predicts the repeats.
enum class SynthTask { passkey, lines, kv, repeat };

// The units of a repeat passage. words: drawn uniformly from the tokenizer's whole-word
// pieces. digits / hex: strings of 3 to 10 distinct characters of 0-9 / 0-9a-f (as in pass
// keys, line values and UUIDs; distinct, so that copying one token at a time is never
// ambiguous: our 1.8M-parameter model learned induction on digit strings within 500 to
// 1500 steps, where word passages left it on the loss plateau, docs/reproduction.md).
enum class RepeatUnits { words, digits, hex };
RepeatUnits parse_repeat_units(const std::string& name);  // throws naming --units
const char* repeat_units_name(RepeatUnits units);

// "passkey" / "lines" / "kv" / "repeat"; throws cream::Error naming --task and the valid names.
SynthTask parse_synth_task(const std::string& name);
const char* synth_task_name(SynthTask task);

struct SynthOptions {
  SynthTask task = SynthTask::passkey;
  int64_t count = 0;  // examples to write (>= 1)
  uint64_t seed = 0;
  std::vector<int64_t> lengths{128, 256,
                               512};     // passkey: prompt lengths in tokens (BOS included); repeat:
                                         // words per passage; one drawn per example
  std::vector<int64_t> lines{4, 8, 16};  // lines: record counts, one drawn per example
  std::vector<int64_t> pairs{4, 8, 16};  // kv: pair counts, one drawn per example
  RepeatUnits units = RepeatUnits::words;   // repeat: what a passage is made of
  std::vector<int64_t> repeats{1};          // repeat: copies after the passage, one drawn per example
  ChatTemplate chat = ChatTemplate::none;
  int64_t context_tokens = 0;  // 0: the bare example; T > 0: embedded in T tokens of text
};

// Throws one line naming the flag (--count, --lengths, --lines, --pairs, --repeats, --context-tokens).
void check_synth_options(const SynthOptions& options);

// What the examples are built from: word lists for `lines`, a haystack for context_tokens > 0,
// the tokenizer's word pieces (repeat_words) for `repeat` with word units (any may be null when not needed;
// a needed one missing is an error).
struct SynthSources {
  const WordLists* words = nullptr;
  const Haystack* haystack = nullptr;
  const std::vector<int32_t>* word_pieces = nullptr;
};

// Every vocabulary piece that is a whole word on its own ("▁" and at least one printable
// character, no line break, not a byte or control piece): the words of the repeat task.
std::vector<int32_t> repeat_words(const io::Tokenizer& tokenizer);

struct SynthExample {
  std::string text;  // the training document
  std::string task;  // "passkey" / "lines" / "kv" / "repeat"
  std::string answer;
  double depth_percent = 0;    // the drawn depth (kv: the gold index's depth)
  int64_t prompt_tokens = 0;   // the retrieval prompt's ids (BOS included)
  int64_t tokens = 0;          // tokens of `text` (no BOS)
  int64_t context_offset = 0;  // natural-text tokens before the example (0 without context)
  nlohmann::json details;      // the builder's details (key, line label, gold index, ...)

  nlohmann::json to_json() const;
};

// Example `index` of the data set described by `options`.
SynthExample synth_example(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                           int64_t index);

struct SynthSummary {
  int64_t count = 0;
  double mean_tokens = 0;  // mean of SynthExample::tokens
};

// All `options.count` examples as JSONL (one to_json() object per line), written atomically.
SynthSummary write_synth(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                         const std::filesystem::path& out);

}  // namespace cream::data
