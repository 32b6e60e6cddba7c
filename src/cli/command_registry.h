// Subcommands register themselves here (one file per subcommand in src/cli/),
// so main.cpp only dispatches and never needs editing when a command is added.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cream::cli {

// Adds the subcommand (with its options and callback) to the root app.
using CommandSetup = std::function<void(CLI::App& root)>;

struct CommandEntry {
  std::string name;
  int order;  // position in --help
  CommandSetup setup;
};

std::vector<CommandEntry>& command_registry();

// Use at namespace scope in the command's .cpp:
//   static const bool kRegistered = register_command("inspect", 60, setup_inspect);
bool register_command(std::string name, int order, CommandSetup setup);

// The build facts `cream --version` / `cream info` print (one "key value" per line).
std::string build_info();

// Thrown by a command that already reported its outcome and only needs main to exit
// with `status` (e.g. `inspect` after listing the problems it found).
struct ExitWithStatus {
  int status;
};

}  // namespace cream::cli
