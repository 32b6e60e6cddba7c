// Prompt builders for the retrieval evaluations of docs/evals.md (passkey, LongChat-Lines,
// Lost-in-the-Middle key-value, needle in a haystack). The evals (`cream eval ...`) and the
// synthetic training documents (`cream data synth`) use these same builders, so what a
// model is trained on and what it is tested on are built by one piece of code.
//
// Every builder returns token ids ready for the model: BOS (when the tokenizer has one),
// then the prompt (wrapped in the chat template when asked). Passkey, lines and key-value
// prompts are encoded as ONE text, so the tokens are what a user's tokenizer would produce;
// the needle prompt is joined on tokens, because the needle goes at an exact token offset
// of the haystack. `target_token` says where the inserted item (key sentence, asked line,
// gold pair, needle) begins in those ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/io/tokenizer.h"
#include "cream/util/rng.h"

namespace cream::data {

enum class ChatTemplate { none, vicuna, llama2, llama3, qwen2 };

// "none" / "vicuna" / "llama2" / "llama3" / "qwen2"; throws cream::Error naming --chat-template and
// the valid names.
ChatTemplate parse_chat_template(const std::string& name);
const char* chat_template_name(ChatTemplate chat);
// One user message and the assistant's turn opened, as the models' own templates lay
// them out (the prompt's BOS is added by the builders, not written here):
//   vicuna (v1.1)  "<system> USER: <message> ASSISTANT:"
//   llama2         "[INST] <message, trimmed> [/INST]"  (Llama-2-Chat, no system block)
//   llama3         "<|start_header_id|>user<|end_header_id|>\n\n<message, trimmed><|eot_id|>"
//                  "<|start_header_id|>assistant<|end_header_id|>\n\n"  (Llama-3 Instruct)
//   qwen2          "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
//                  "<message><|im_end|>\n<|im_start|>assistant\n"  (Qwen2 Instruct's default
//                  system line; Qwen2.5's differs)
//   none           the message unchanged.
std::string apply_chat_template(ChatTemplate chat, const std::string& message);
// Vicuna v1.1's default system line.
const char* vicuna_system_prompt();
// The template's markers must be single tokens of `tokenizer` (else the prompt would
// spell them out as text): a cream::Error naming --chat-template otherwise.
void check_chat_template(const io::Tokenizer& tokenizer, ChatTemplate chat);

// --- Token helpers shared by the builders and `cream data synth` -------------------------------
// Index of the token of `tokens` (= tokenizer.encode(text)) that holds the byte at
// `char_offset` of `text`: exactly the boundary when the text before the offset encodes to a
// prefix of `tokens`, otherwise the token straddling the offset.
int64_t token_containing_char(const io::Tokenizer& tokenizer, const std::vector<int32_t>& tokens,
                              const std::string& text, size_t char_offset);
// tokenizer.encode(text) without the lone dummy-prefix "▁" SentencePiece puts before a text
// that does not start with a space ("\nWhat" -> "\n", "What"): for parts joined on tokens.
std::vector<int32_t> encode_continuation(const io::Tokenizer& tokenizer, const std::string& text);
// The answer's tokens as they follow the prompt after one space: the tail of
// encode(prompt_text + " " + answer) when it starts with `prompt_tokens`; otherwise (the space
// merged into the prompt's last token) encode(answer), whose dummy prefix is that space.
std::vector<int32_t> answer_continuation_ids(const io::Tokenizer& tokenizer, const std::string& prompt_text,
                                             const std::vector<int32_t>& prompt_tokens, const std::string& answer);

struct RetrievalPrompt {
  std::vector<int32_t> ids;         // BOS + prompt tokens: the model's input
  std::string text;                 // the prompt text (template applied, no BOS)
  std::string answer;               // the expected answer: key, value, uuid or needle
  std::vector<int32_t> answer_ids;  // the answer's tokens as they follow the prompt (forced scoring)
  int64_t target_token = 0;         // index in `ids` where the inserted item begins
  double depth_percent = 0;         // the depth that was asked for, 0..100
  double token_depth_percent = 0;   // 100 * target_token / ids.size(): the depth reached
  nlohmann::json details;           // protocol specifics (key, n_prefix/n_suffix, line label, ...)
};

// --- Passkey (PoSE protocol) ------------------------------------------------------------
struct PasskeyOptions {
  int64_t length = 0;        // requested prompt length in tokens (BOS included)
  double depth_percent = 0;  // n_prefix / (n_prefix + n_suffix), in percent
  int64_t key = 0;           // the pass key, 1..50000 for the protocol
  ChatTemplate chat = ChatTemplate::none;
};
// Fillers are PoSE's string repeated with no separator; the count is chosen so that
// ids.size() is within max(1% of length, one filler's tokens) of `length`. Throws one line
// (naming the length / depth) when the fixed parts alone exceed the length or the depth is
// outside 0..100.
RetrievalPrompt build_passkey(const io::Tokenizer& tokenizer, const PasskeyOptions& options);
// A key drawn uniformly from 1..50000.
int64_t draw_passkey(util::Rng& rng);

// --- LongChat-Lines ---------------------------------------------------------------------
struct WordLists {
  std::vector<std::string> adjectives;
  std::vector<std::string> nouns;
  std::string source;  // where they came from, for the JSON record
};
// Lower-case alphabetic single words (3..10 letters) from WordNet's index.adj / index.noun
// in `folder` (Debian: wordnet-base, /usr/share/wordnet). Throws naming the file when
// missing or when fewer than 100 words of a kind are found.
WordLists load_word_lists(const std::filesystem::path& folder = "/usr/share/wordnet");

struct LinesOptions {
  int64_t lines = 0;         // records in the prompt (>= 1)
  double depth_percent = 0;  // which line is asked: index round(depth / 100 * (lines - 1))
  ChatTemplate chat = ChatTemplate::none;
};
// Labels "adjective-noun" unique within the prompt, values uniform in 0..50000, all drawn
// from `rng`.
RetrievalPrompt build_lines(const io::Tokenizer& tokenizer, const WordLists& words, const LinesOptions& options,
                            util::Rng& rng);

// --- Lost in the Middle, key-value retrieval ----------------------------------------------
struct KeyValueOptions {
  int64_t pairs = 0;       // pairs in the JSON object (>= 1)
  int64_t gold_index = 0;  // 0-based index of the asked pair, < pairs
  ChatTemplate chat = ChatTemplate::none;
};
// Keys and values are random version-4 UUIDs drawn from `rng`.
RetrievalPrompt build_key_value(const io::Tokenizer& tokenizer, const KeyValueOptions& options, util::Rng& rng);
std::string random_uuid(util::Rng& rng);

// --- Needle in a haystack -----------------------------------------------------------------
inline constexpr const char* kDefaultNeedle =
    "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.";
inline constexpr const char* kDefaultNeedleQuestion = "What is the best thing to do in San Francisco?";

struct Haystack {
  std::vector<int32_t> ids;  // the haystack text's tokens (no BOS)
  std::string source;        // file(s) it came from
};
// The haystack from `file` (plain text), or by default English prose from the Debian
// perl-doc package's .pod files (sorted by name, POD command and verbatim lines dropped).
// Throws naming the file when it is missing or holds no text.
// Prose of a POD document: command paragraphs ("=head1 ...") and verbatim lines (indented)
// dropped, formatting codes reduced to their text (C<x> -> x, L<text|link> -> text, E<gt> -> >,
// X<>/Z<> removed), each paragraph on one line, paragraphs separated by a blank line.
std::string pod_prose(const std::string& pod);
// The default haystack's files: the perl-doc .pod files under /usr/share/perl/<version>/pod,
// sorted by name. Throws when none is found (install Debian's perl-doc).
std::vector<std::filesystem::path> default_haystack_files();
Haystack load_haystack(const io::Tokenizer& tokenizer, const std::optional<std::filesystem::path>& file);

struct NeedleOptions {
  int64_t length = 0;        // prompt length in tokens (BOS included)
  double depth_percent = 0;  // token offset of the needle inside the haystack part, in percent
  std::string needle = kDefaultNeedle;
  std::string question = kDefaultNeedleQuestion;
  ChatTemplate chat = ChatTemplate::none;
};
// Description line, the first haystack tokens with the needle's tokens inserted at the
// exact token offset, then the question. Throws one line when the haystack is too short for
// the length, the needle (with the fixed parts) is longer than the length, or the depth is
// outside 0..100.
RetrievalPrompt build_needle(const io::Tokenizer& tokenizer, const Haystack& haystack, const NeedleOptions& options);

}  // namespace cream::data
