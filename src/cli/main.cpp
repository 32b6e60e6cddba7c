// cream: one binary, subcommands. main only dispatches; each subcommand lives in
// its own src/cli/cmd_<name>.cpp. Every failure ends here as one line on stderr.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "command_registry.h"
#include "cream/config/suggest.h"
#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::cli {

std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> entries;
  return entries;
}

bool register_command(std::string name, int order, CommandSetup setup) {
  command_registry().push_back({std::move(name), order, std::move(setup)});
  return true;
}

}  // namespace cream::cli

namespace {

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// " (did you mean 'train'?)" for a plausible typo of a command, else "".
std::string did_you_mean(const std::string& typed, const std::vector<cream::cli::CommandEntry>& entries) {
  std::vector<std::string> names;
  for (const auto& entry : entries) names.push_back(entry.name);
  const auto best = cream::config::closest_match(typed, names);
  return best ? " (did you mean '" + *best + "'?)" : "";
}

int fail(const std::string& message) {
  cream::log::drop_held_info();  // the error is the one line
  std::cerr << "cream: error: " << first_line(message) << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cream: context-window extension of Llama models with CREAM", "cream"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    auto text = cream::cli::build_info();
    text.pop_back();  // CLI11 adds the final newline
    return text;
  });
  // One line per error, no usage dump.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "cream: error: " + std::string(e.what()) + " (see --help)\n";
  });
  auto entries = cream::cli::command_registry();
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& entry : entries) entry.setup(app);
  // CLI11 would only say "A subcommand is required" for a misspelt command.
  if (argc >= 2 && argv[1][0] != '-') {
    const bool known = std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.name == argv[1]; });
    std::string names;
    for (const auto& entry : entries) names += (names.empty() ? "" : ", ") + entry.name;
    if (!known)
      return fail("unknown command '" + std::string(argv[1]) + "'" + did_you_mean(argv[1], entries) +
                  "; commands: " + names);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const cream::cli::ExitWithStatus& e) {
    cream::log::release_info();
    return e.status;
  } catch (const cream::Error& e) {
    return fail(e.what());
  } catch (const c10::Error& e) {
    return fail(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  cream::log::release_info();
  return 0;
}
