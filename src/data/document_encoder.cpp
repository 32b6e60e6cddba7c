#include "document_encoder.h"

#include <nlohmann/json.hpp>

#include "cream/data/conversation.h"
#include "cream/util/error.h"

namespace cream::data {
namespace {

using nlohmann::json;

bool is_blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  return true;
}

// Adds BOS (unless the ids already start with it) and EOS (when asked, unless
// already last) around `body`, appending the document to `result`.
void add_document(const std::vector<int32_t>& body, const io::Tokenizer& tokenizer, const EncodeSettings& settings,
                  EncodeResult& result) {
  if (body.empty()) {
    ++result.empty_documents;
    return;
  }
  const size_t before = result.tokens.size();
  const int32_t bos = tokenizer.bos_id(), eos = tokenizer.eos_id();
  if (bos >= 0 && body.front() != bos) result.tokens.push_back(bos);
  result.tokens.insert(result.tokens.end(), body.begin(), body.end());
  if (settings.append_eos && eos >= 0 && body.back() != eos) result.tokens.push_back(eos);
  result.doc_lengths.push_back(result.tokens.size() - before);
}

std::vector<int32_t> checked_input_ids(const json& ids, const std::string& where, int vocab_size) {
  CREAM_CHECK(ids.is_array(), where + ": 'input_ids' is not an array");
  std::vector<int32_t> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    CREAM_CHECK(id.is_number_integer(), where + ": input_ids[" + std::to_string(i) + "] is not an integer");
    const int64_t value = id.get<int64_t>();
    CREAM_CHECK(value >= 0 && value < vocab_size,
                where + ": input_ids[" + std::to_string(i) + "] = " + std::to_string(value) +
                    " is outside the tokenizer's vocabulary [0, " + std::to_string(vocab_size) + ")");
    out.push_back(static_cast<int32_t>(value));
  }
  return out;
}

void encode_object(const json& doc, const std::string& where, const io::Tokenizer& tokenizer,
                   const EncodeSettings& settings, EncodeResult& result) {
  if (settings.sharegpt) {
    add_document(conversation_ids(parse_conversation(doc, where), settings.chat, tokenizer), tokenizer, settings, result);
    return;
  }
  CREAM_CHECK(doc.is_object(), where + ": a JSONL line must be a JSON object");
  const bool has_ids = doc.contains("input_ids");
  const bool has_text = doc.contains(settings.text_field);
  CREAM_CHECK(!(has_ids && has_text), where + ": has both 'input_ids' and '" + settings.text_field +
                                          "' (ambiguous; keep one)");
  if (has_ids) {
    add_document(checked_input_ids(doc.at("input_ids"), where, tokenizer.vocab_size()), tokenizer, settings, result);
    return;
  }
  CREAM_CHECK(has_text, where + ": missing text field '" + settings.text_field + "' (and no 'input_ids')");
  const json& text = doc.at(settings.text_field);
  CREAM_CHECK(text.is_string(), where + ": field '" + settings.text_field + "' is not a string");
  add_document(tokenizer.encode(text.get_ref<const std::string&>()), tokenizer, settings, result);
}

void encode_jsonl_line(std::string_view line, const std::string& where, const io::Tokenizer& tokenizer,
                       const EncodeSettings& settings, EncodeResult& result) {
  json doc;
  try {
    doc = json::parse(line);
  } catch (const json::parse_error& e) {
    throw Error(where + ": malformed JSON line (" + std::string(e.what()) + ")");
  }
  encode_object(doc, where, tokenizer, settings, result);
}

// A .json file holding one array (ShareGPT's dumps): every element is one document.
void encode_json_array(const EncodeTask& task, const io::Tokenizer& tokenizer, const EncodeSettings& settings,
                       EncodeResult& result) {
  json array;
  try {
    array = json::parse(task.bytes);
  } catch (const json::parse_error& e) {
    throw Error(task.file + ": malformed JSON (" + std::string(e.what()) + ")");
  }
  CREAM_CHECK(array.is_array(), task.file + ": expected a JSON array");
  for (size_t i = 0; i < array.size(); ++i)
    encode_object(array[i], task.file + ": [" + std::to_string(i) + "]", tokenizer, settings, result);
}

void encode_jsonl_block(const EncodeTask& task, const io::Tokenizer& tokenizer, const EncodeSettings& settings,
                        EncodeResult& result) {
  std::string_view rest(task.bytes);
  uint64_t line_number = task.first_line;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (is_blank(line)) ++result.blank_lines;
    else encode_jsonl_line(line, task.file + ":" + std::to_string(line_number), tokenizer, settings, result);
    ++line_number;
  }
}

}  // namespace

EncodeResult encode_task(const EncodeTask& task, const io::Tokenizer& tokenizer, const EncodeSettings& settings) {
  EncodeResult result;
  result.input_index = task.input_index;
  try {
    if (task.json_array) encode_json_array(task, tokenizer, settings, result);
    else if (task.jsonl) encode_jsonl_block(task, tokenizer, settings, result);
    else add_document(tokenizer.encode(task.bytes), tokenizer, settings, result);
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace cream::data
