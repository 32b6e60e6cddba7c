// Fixtures for the retrieval tests: a tiny random model folder with the test SentencePiece
// tokenizer, a small WordNet-style word-list folder and a generated haystack file.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "../data/data_test_support.h"
#include "cream/io/tokenizer.h"
#include "cream/model/llama.h"
#include "cream/model/presets.h"
#include "cream/model/random_init.h"
#include "cream/model/weights.h"

namespace cream::test {

struct TempDir {
  explicit TempDir(const std::string& name) : path(fresh_dir(name)) {}
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};

// The tiny preset sized to the test tokenizer, with a short window (so long prompts warn).
inline model::LlamaConfig retrieval_config() {
  auto config = model::preset("tiny");
  const io::Tokenizer tokenizer(test_tokenizer());
  model::adopt_tokenizer(config, tokenizer);
  config.max_position_embeddings = 256;
  config.validate("retrieval test");
  return config;
}

// Random weights with a spread large enough that argmax decisions are not near-ties.
inline model::LlamaForCausalLM retrieval_model(const model::LlamaConfig& config, uint64_t seed = 7) {
  model::LlamaForCausalLM model(config);
  model::initialize_weights(*model, seed, 0.3);
  model->eval();
  return model;
}

// A model folder (config.json + safetensors), with tokenizer.model unless told otherwise.
inline fs::path retrieval_model_folder(const fs::path& root, bool with_tokenizer = true) {
  const auto config = retrieval_config();
  auto model = retrieval_model(config);
  const auto folder = root / (with_tokenizer ? "model" : "model-no-tokenizer");
  model::save_model_folder(folder, *model, config, io::DType::F32);
  if (with_tokenizer) fs::copy_file(test_tokenizer(), folder / "tokenizer.model");
  return folder;
}

// index.adj / index.noun in WordNet's layout (license lines start with two spaces), 150
// made-up plain words each.
inline fs::path word_list_folder(const fs::path& root) {
  const auto folder = root / "wordnet";
  fs::create_directories(folder);
  for (const std::string kind : {"adj", "noun"}) {
    std::string text = "  1 This is a made-up word list for tests.\n";
    for (int i = 0; i < 150; ++i) {
      std::string word = kind == "adj" ? "ad" : "no";
      for (int n = i; word.size() < 5; n /= 26) word.push_back(static_cast<char>('a' + n % 26));
      text += word + " " + (kind == "adj" ? "a" : "n") + " 1 1 @ 1 0 00000001\n";
    }
    write_file(folder / ("index." + kind), text);
  }
  return folder;
}

inline fs::path haystack_file(const fs::path& root) {
  const auto file = root / "haystack.txt";
  write_file(file, generated_text(77, 3000));
  return file;
}

}  // namespace cream::test
