// ShareGPT-style conversations as training documents (`cream data prepare --format
// sharegpt --chat-template NAME`; docs/chat-data.md says what the CREAM authors did).
//
// Accepted shapes, one conversation per JSONL line or per element of a JSON array:
//   {"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}, ...]}
//   {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}
// Roles: system (first turn only), human / user, gpt / assistant / chatgpt / bard. A
// conversation must alternate user and assistant turns starting with the user; one that
// does not is refused with its file:line and turn index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/data/prompts.h"
#include "cream/io/tokenizer.h"

namespace cream::data {

struct Turn {
  enum class Role { system, user, assistant };
  Role role = Role::user;
  std::string content;
};

// The turns of one conversation object; errors name `where` and the turn.
std::vector<Turn> parse_conversation(const nlohmann::json& object, const std::string& where);

// The ids of a whole conversation as `chat`'s model is trained on it (every token is a
// training label, as in the authors' chat run):
//   llama2  per exchange: BOS "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} " EOS
//           (system only in the first; texts stripped), Llama-2-Chat's layout
//   vicuna  BOS "{system} USER: {user} ASSISTANT: {assistant}" EOS " USER: ..." (Vicuna v1.1;
//           the default system line when none is given)
//   llama3  "<|begin_of_text|>" then "<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>"
//           per turn (texts trimmed)
//   qwen2   "<|im_start|>{role}\n{text}<|im_end|>\n" per turn, Qwen2's default system turn
//           first when the conversation has none
// `none` is refused (a conversation needs a layout).
std::vector<int32_t> conversation_ids(const std::vector<Turn>& turns, ChatTemplate chat, const io::Tokenizer& tokenizer);

}  // namespace cream::data
