// Shared helpers for the data tests: a SentencePiece model trained on generated
// text (once per test process, with the real spm_train), temp folders, and
// spm_encode as an independent reference.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cream/util/error.h"

namespace cream::test {

namespace fs = std::filesystem;

inline fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("cream_data_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline void write_file(const fs::path& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

// Deterministic English-like text: words from syllables, sentences, paragraphs.
inline std::string generated_text(uint64_t seed, int words) {
  static const char* kSyllables[] = {"the", "an", "ing", "con", "ter", "pre", "ment", "al", "ly", "ex",
                                     "tion", "re", "de", "for", "st", "pro", "o", "ca", "ble", "un"};
  static const char* kPunct[] = {".", ",", ";", "!", "?", ":"};
  std::string text;
  uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  auto draw = [&x](uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % n;
  };
  for (int w = 0; w < words; ++w) {
    const uint64_t syllables = 1 + draw(3);
    for (uint64_t s = 0; s < syllables; ++s) text += kSyllables[draw(20)];
    if (draw(9) == 0) text += std::to_string(draw(1000));
    if (draw(7) == 0) text += kPunct[draw(6)];
    text += draw(40) == 0 ? "\n" : " ";
  }
  return text;
}

inline std::string run_and_capture(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  ::pclose(pipe);
  return output;
}

// A SentencePiece unigram model trained with spm_train on generated text, in the
// Llama style (identity normalisation, spaces kept, byte fallback).
inline const fs::path& test_tokenizer() {
  struct RemoveAtExit {
    fs::path dir;
    ~RemoveAtExit() { fs::remove_all(dir); }
  };
  static const RemoveAtExit cleanup{fresh_dir("spm")};
  static const fs::path model = [] {
    const auto& dir = cleanup.dir;
    std::string corpus;
    for (int paragraph = 0; paragraph < 400; ++paragraph) corpus += generated_text(paragraph, 60) + "\n";
    write_file(dir / "corpus.txt", corpus);
    const std::string command = "spm_train --input=" + (dir / "corpus.txt").string() + " --model_prefix=" +
                                (dir / "tok").string() +
                                " --vocab_size=400 --normalization_rule_name=identity"
                                " --remove_extra_whitespaces=false --byte_fallback=true --character_coverage=1.0"
                                " --num_threads=1 > " +
                                (dir / "train.log").string() + " 2>&1";
    const int status = std::system(command.c_str());
    if (status != 0) throw std::runtime_error("spm_train failed: see " + (dir / "train.log").string());
    return dir / "tok.model";
  }();
  return model;
}

// spm_encode --output_format=id, one line of text per line: the reference ids.
inline std::vector<std::vector<int>> spm_encode_lines(const fs::path& model, const std::vector<std::string>& lines) {
  const auto dir = fresh_dir("spm_encode");
  std::string joined;
  for (const auto& line : lines) joined += line + "\n";
  write_file(dir / "in.txt", joined);
  const std::string output = run_and_capture("spm_encode --model=" + model.string() + " --output_format=id < " +
                                             (dir / "in.txt").string());
  std::vector<std::vector<int>> ids;
  std::istringstream stream(output);
  for (std::string line; std::getline(stream, line);) {
    std::istringstream numbers(line);
    ids.emplace_back();
    for (int id; numbers >> id;) ids.back().push_back(id);
  }
  fs::remove_all(dir);
  return ids;
}

// Runs `action`, expects a cream::Error whose message contains every fragment.
inline void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected a cream::Error";
  } catch (const cream::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << "error must be one line: " << message;
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
  }
}

}  // namespace cream::test
