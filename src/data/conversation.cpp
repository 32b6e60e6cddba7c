#include "cream/data/conversation.h"

#include "cream/util/error.h"

namespace cream::data {
namespace {

using nlohmann::json;
using Role = Turn::Role;

Role parse_role(const std::string& name, const std::string& where) {
  if (name == "system") return Role::system;
  if (name == "human" || name == "user") return Role::user;
  if (name == "gpt" || name == "assistant" || name == "chatgpt" || name == "bard") return Role::assistant;
  throw Error(where + ": unknown role \"" + name + "\" (system, human/user, gpt/assistant)");
}

std::string strip(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

const char* role_name(Role role) {
  return role == Role::system ? "system" : role == Role::user ? "user" : "assistant";
}

void append(std::vector<int32_t>& ids, const io::Tokenizer& tokenizer, const std::string& text) {
  tokenizer.encode_append(text, ids);
}

void require_special(const io::Tokenizer& tokenizer, int id, const char* what, ChatTemplate chat) {
  CREAM_CHECK(id >= 0, std::string("--chat-template ") + chat_template_name(chat) + ": the tokenizer " +
                           tokenizer.path().string() + " has no " + what);
}

// BOS segment EOS per exchange (SentencePiece-era layouts: the markers are ids, not text).
std::vector<int32_t> llama2_ids(const std::vector<Turn>& turns, const io::Tokenizer& tokenizer) {
  require_special(tokenizer, tokenizer.bos_id(), "BOS", ChatTemplate::llama2);
  require_special(tokenizer, tokenizer.eos_id(), "EOS", ChatTemplate::llama2);
  std::vector<int32_t> ids;
  std::string system;
  for (size_t i = 0; i < turns.size(); ++i) {
    const auto& turn = turns[i];
    if (turn.role == Role::system) {
      system = "<<SYS>>\n" + strip(turn.content) + "\n<</SYS>>\n\n";
    } else if (turn.role == Role::user) {
      std::string segment = "[INST] " + system + strip(turn.content) + " [/INST]";
      system.clear();
      if (i + 1 < turns.size()) segment += " " + strip(turns[++i].content) + " ";
      ids.push_back(tokenizer.bos_id());
      append(ids, tokenizer, segment);
      if (turns[i].role == Role::assistant) ids.push_back(tokenizer.eos_id());
    }
  }
  return ids;
}

std::vector<int32_t> vicuna_ids(const std::vector<Turn>& turns, const io::Tokenizer& tokenizer) {
  require_special(tokenizer, tokenizer.eos_id(), "EOS", ChatTemplate::vicuna);
  std::vector<int32_t> ids;
  if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  std::string text = vicuna_system_prompt();
  size_t i = 0;
  if (!turns.empty() && turns[0].role == Role::system) text = strip(turns[i++].content);
  text += " ";
  for (; i < turns.size(); ++i) {
    if (turns[i].role == Role::user) {
      text += "USER: " + strip(turns[i].content) + " ";
    } else {
      text += "ASSISTANT: " + strip(turns[i].content);
      append(ids, tokenizer, text);
      ids.push_back(tokenizer.eos_id());
      text.clear();
    }
  }
  if (!text.empty()) append(ids, tokenizer, text);
  return ids;
}

// Layouts whose markers are special tokens written as text (tokenizer.json matches them).
std::string llama3_text(const std::vector<Turn>& turns) {
  std::string text = "<|begin_of_text|>";
  for (const auto& turn : turns)
    text += std::string("<|start_header_id|>") + role_name(turn.role) + "<|end_header_id|>\n\n" + strip(turn.content) +
            "<|eot_id|>";
  return text;
}

std::string qwen2_text(const std::vector<Turn>& turns) {
  std::string text;
  if (turns.empty() || turns[0].role != Role::system)
    text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
  for (const auto& turn : turns)
    text += std::string("<|im_start|>") + role_name(turn.role) + "\n" + turn.content + "<|im_end|>\n";
  return text;
}

}  // namespace

std::vector<Turn> parse_conversation(const json& object, const std::string& where) {
  CREAM_CHECK(object.is_object(), where + ": a conversation must be a JSON object");
  const char* list_key = object.contains("conversations") ? "conversations"
                         : object.contains("conversation") ? "conversation"
                         : object.contains("messages")     ? "messages"
                                                           : nullptr;
  CREAM_CHECK(list_key, where + ": no \"conversations\" (ShareGPT) or \"messages\" list");
  const json& list = object.at(list_key);
  CREAM_CHECK(list.is_array(), where + ": \"" + list_key + "\" is not a list");
  std::vector<Turn> turns;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + ": " + list_key + "[" + std::to_string(i) + "]";
    const json& item = list[i];
    CREAM_CHECK(item.is_object(), at + ": not an object");
    const bool sharegpt = item.contains("from");
    const char* role_key = sharegpt ? "from" : "role";
    const char* text_key = sharegpt ? "value" : "content";
    CREAM_CHECK(item.contains(role_key) && item.at(role_key).is_string(), at + ": missing \"" + role_key + "\"");
    CREAM_CHECK(item.contains(text_key) && item.at(text_key).is_string(), at + ": missing string \"" + text_key + "\"");
    Turn turn{parse_role(item.at(role_key).get<std::string>(), at), item.at(text_key).get<std::string>()};
    const bool first = turns.empty();
    if (turn.role == Role::system) {
      CREAM_CHECK(first, at + ": a system turn may only come first");
    } else {
      const bool after_user = !first && turns.back().role == Role::user;
      CREAM_CHECK(turn.role == Role::user ? !after_user : after_user,
                  at + ": expected a " + (after_user ? "gpt/assistant" : "human/user") + " turn (turns alternate, user first)");
    }
    turns.push_back(std::move(turn));
  }
  return turns;
}

std::vector<int32_t> conversation_ids(const std::vector<Turn>& turns, ChatTemplate chat, const io::Tokenizer& tokenizer) {
  switch (chat) {
    case ChatTemplate::llama2: return llama2_ids(turns, tokenizer);
    case ChatTemplate::vicuna: return vicuna_ids(turns, tokenizer);
    case ChatTemplate::llama3:
      check_chat_template(tokenizer, chat);
      return tokenizer.encode(llama3_text(turns));
    case ChatTemplate::qwen2:
      check_chat_template(tokenizer, chat);
      return tokenizer.encode(qwen2_text(turns));
    default:
      throw Error("--chat-template: --format sharegpt needs a template (vicuna, llama2, llama3, qwen2)");
  }
}

}  // namespace cream::data
