// Runs the built `cream` binary and captures what a user would see.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace cream::test {

struct CommandResult {
  int status = -1;     // exit status (128 + signal when killed)
  std::string output;  // stdout and stderr together
  std::string stderr_text;
};

// A shell command's stdout (and exit status), for independent checks (git, python).
inline CommandResult run_shell(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int raw = ::pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return result;
}

// The built binary with ARGS: stdout and stderr together in output, stderr alone too.
inline CommandResult run_cream(const std::string& args) {
  static int counter = 0;
  const auto err_path = std::filesystem::temp_directory_path() /
                        ("cream_cli_stderr_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  auto result = run_shell(std::string(CREAM_BINARY) + " " + args + " 2>" + err_path.string());
  if (FILE* err = std::fopen(err_path.c_str(), "r")) {
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), err)) > 0) result.stderr_text.append(buffer.data(), n);
    std::fclose(err);
  }
  std::filesystem::remove(err_path);
  result.output += result.stderr_text;
  return result;
}

// English-like filler with a little structure, deterministic by seed (corpora for the
// tokenizers and data the end-to-end tests build).
inline std::string document(uint64_t seed, int words) {
  static const char* kWords[] = {"the", "model", "reads", "a", "long", "context", "and", "finds", "its",
                                 "key", "in", "middle", "of", "text", "window", "position"};
  std::string text;
  uint64_t x = seed + 1;
  for (int w = 0; w < words; ++w) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    text += kWords[(x >> 33) % 16];
    text += (w % 12 == 11) ? ".\n" : " ";
  }
  return text;
}

// A fresh, empty temporary folder for one test.
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("cream_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Number of lines in `text` (a trailing newline does not start a new line).
inline int line_count(const std::string& text) {
  int lines = 0;
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n' || i + 1 == text.size()) ++lines;
  return lines;
}

}  // namespace cream::test
