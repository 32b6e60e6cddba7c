// Shared helpers for the config tests: a minimal valid config and error capture.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cream/config/experiment.h"

namespace cream::config::testing {

// Only the required keys (and model.path), one per line, so that tests can
// edit single lines with `edited`.
inline const std::string kMinimal =
    "model:\n"                     // line 1
    "  path: models/m\n"           // 2
    "positions:\n"                 // 3
    "  method: cream\n"            // 4
    "  train_length: 4096\n"       // 5
    "  target_length: 32768\n"     // 6
    "train:\n"                     // 7
    "  steps: 10\n"                // 8
    "optim:\n"                     // 9
    "  lr: 2e-5\n"                 // 10
    "checkpoint:\n"                // 11
    "  output_dir: runs/x\n";      // 12

// `text` with the first occurrence of `from` replaced by `to` (fails the test
// when `from` is absent, so that an edit cannot silently do nothing).
inline std::string edited(const std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "no \"" << from << "\" in the config text";
  if (at == std::string::npos) return text;
  return text.substr(0, at) + to + text.substr(at + from.size());
}

// The message of the cream::Error that parsing throws ("" when none is thrown).
inline std::string parse_error(const std::string& text, const std::vector<std::string>& overrides = {},
                               int world_size = 1) {
  try {
    parse_experiment(text, "cfg.yaml", overrides, world_size);
  } catch (const cream::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace cream::config::testing
