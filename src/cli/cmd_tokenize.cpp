// `cream tokenize`: the ids a tokenizer gives a text and the text they decode back to,
// one JSON line per input (what `cream data prepare` stores, without BOS / EOS).
//   cream tokenize --tokenizer tok/tokenizer.json --text "Hello world"
//   cream tokenize --tokenizer tok/tokenizer.json --input texts.jsonl   ({"text": ...} lines)
//   cream tokenize --tokenizer tok/tokenizer.json --raw file.bin        (the file's bytes as one text)
//   cream tokenize --tokenizer tok/tokenizer.model --info               (vocab size, BOS / EOS ids)
//   cream tokenize --tokenizer tok/tokenizer.json --chat-template llama3 --text "Hi"
//       (the text as one user message in the template, with BOS: the ids an eval prompt gets)
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "cream/data/prompts.h"
#include "cream/io/tokenizer.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string input;
  std::string raw;
  bool info = false;
  std::string chat_template = "none";
};

void print(const io::Tokenizer& tokenizer, std::string_view text, data::ChatTemplate chat) {
  std::vector<int32_t> ids;
  if (chat != data::ChatTemplate::none) {
    data::check_chat_template(tokenizer, chat);
    if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
    tokenizer.encode_append(data::apply_chat_template(chat, std::string(text)), ids);
  } else {
    ids = tokenizer.encode(text);
  }
  nlohmann::json line{{"ids", ids}, {"decoded", tokenizer.decode(ids)}};
  std::cout << line.dump() << "\n";
}

void run_tokenize(const TokenizeArgs& args) {
  const int sources = !args.text.empty() + !args.input.empty() + !args.raw.empty() + args.info;
  CREAM_CHECK(sources == 1, "tokenize: give exactly one of --text, --input, --raw, --info");
  const auto chat = data::parse_chat_template(args.chat_template);
  const io::Tokenizer tokenizer(args.tokenizer);
  if (args.info) {
    nlohmann::json info{{"kind", tokenizer.file_name()}, {"vocab_size", tokenizer.vocab_size()},
                        {"bos_id", tokenizer.bos_id()}, {"eos_id", tokenizer.eos_id()},
                        {"pad_id", tokenizer.pad_id()}, {"unk_id", tokenizer.unk_id()},
                        {"sha256", tokenizer.sha256()}};
    std::cout << info.dump() << "\n";
  } else if (!args.text.empty()) {
    print(tokenizer, args.text, chat);
  } else if (!args.raw.empty()) {
    print(tokenizer, util::read_text_file(args.raw), chat);
  } else {
    std::ifstream in(args.input);
    CREAM_CHECK(in.good(), args.input + ": cannot open");
    std::string line;
    for (int64_t number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      nlohmann::json object;
      try {
        object = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        throw Error(args.input + ":" + std::to_string(number) + ": not valid JSON: " + e.what());
      }
      CREAM_CHECK(object.is_object() && object.contains("text") && object.at("text").is_string(),
                  args.input + ":" + std::to_string(number) + ": expected {\"text\": ...}");
      print(tokenizer, object.at("text").get<std::string>(), chat);
    }
  }
}

void setup_tokenize(CLI::App& root) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = root.add_subcommand("tokenize", "Token ids of a text and their decoding, one JSON line per text");
  cmd->add_option("--tokenizer", args->tokenizer, "tokenizer.model (SentencePiece) or tokenizer.json")->required();
  cmd->add_option("--text", args->text, "One text");
  cmd->add_option("--input", args->input, "JSONL file of {\"text\": ...} lines");
  cmd->add_option("--raw", args->raw, "A file whose bytes are one text (invalid UTF-8 becomes U+FFFD)");
  cmd->add_flag("--info", args->info, "Print the tokenizer's vocabulary size and special ids");
  cmd->add_option("--chat-template", args->chat_template,
                  "Wrap each text as one user message (none, vicuna, llama3, qwen2); the ids then start with BOS")
      ->capture_default_str();
  cmd->callback([args] { run_tokenize(*args); });
}

const bool kRegistered = register_command("tokenize", 72, setup_tokenize);

}  // namespace
}  // namespace cream::cli
