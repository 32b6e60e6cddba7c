// Shared fixtures for the trainer tests: a tokenizer trained with spm_train, prepared
// token folders of repetitive documents, and experiment configs for a tiny model.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../data/data_test_support.h"
#include "cream/config/experiment.h"
#include "cream/data/prepare.h"

namespace cream::test {

// A fresh temporary folder, removed with everything in it when the test ends.
struct ScopedDir {
  explicit ScopedDir(const std::string& name) : path(fresh_dir(name)) {}
  ~ScopedDir() { fs::remove_all(path); }
  ScopedDir(const ScopedDir&) = delete;
  ScopedDir& operator=(const ScopedDir&) = delete;
  fs::path path;
};

// Documents that repeat a few generated sentences: a tiny model learns them fast.
inline std::vector<std::string> repetitive_documents(int count, uint64_t seed) {
  std::vector<std::string> docs;
  for (int d = 0; d < count; ++d) {
    const std::string sentence = generated_text(seed + d % 3, 12);
    std::string doc;
    for (int r = 0; r < 12; ++r) doc += sentence + " ";
    docs.push_back(doc);
  }
  return docs;
}

// A prepared token folder (one plain-text file per document).
inline fs::path prepared_folder(const fs::path& root, const std::string& name, int documents, uint64_t seed) {
  const auto inputs = root / (name + "-text");
  fs::create_directories(inputs);
  data::PrepareOptions options;
  options.tokenizer = test_tokenizer();
  options.out = root / name;
  options.threads = 1;
  const auto docs = repetitive_documents(documents, seed);
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto path = inputs / ("doc" + std::to_string(1000 + i) + ".txt");
    write_file(path, docs[i]);
    options.inputs.push_back(path);
  }
  data::prepare(options);
  return options.out;
}

// Train and valid folders, built once per test process.
struct TrainData {
  fs::path root, train, valid;
};

inline const TrainData& train_data() {
  static const ScopedDir root("trainer_data");
  static const TrainData data = [] {
    TrainData d;
    d.root = root.path;
    d.train = prepared_folder(d.root, "train", 40, 11);
    d.valid = prepared_folder(d.root, "valid", 6, 500);
    return d;
  }();
  return data;
}

// A tiny CREAM experiment (N = 32, L = 128, linear RoPE) trained from scratch on CPU;
// `overrides` are --set strings.
inline config::ExperimentConfig tiny_experiment(const fs::path& run_dir, const std::vector<std::string>& overrides = {}) {
  const auto& data = train_data();
  const std::string yaml = "model:\n  init: tiny\n  dtype: fp32\n  device: cpu\n  threads: 1\n  tokenizer: " +
                           test_tokenizer().string() + "\ndata:\n  train: " + data.train.string() +
                           "\n  valid: " + data.valid.string() +
                           "\npositions:\n  method: cream\n  train_length: 32\n  target_length: 128\n"
                           "  continuity_length: 8\nrope:\n  type: linear\n"
                           "train:\n  steps: 6\n  global_batch: 4\n  micro_batch: 2\n  seed: 3\n  grad_clip: 1.0\n"
                           "optim:\n  lr: 3.0e-3\n  betas: [0.9, 0.95]\n  weight_decay: 0.1\n"
                           "schedule:\n  name: warmup_decay\n  warmup_steps: 2\n  warmup_type: log\n"
                           "eval:\n  every: 0\n  lengths: [32, 128]\n  batches: 2\n"
                           "checkpoint:\n  output_dir: " + run_dir.string() + "\n  every: 2\n  keep: 0\n"
                           "log:\n  every: 1\n";
  return config::parse_experiment(yaml, "tiny-test.yaml", overrides);
}

}  // namespace cream::test
