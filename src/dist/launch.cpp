#include "cream/dist/launch.h"

#include <cstdlib>
#include <optional>

#include "cream/util/error.h"

namespace cream::dist {
namespace {

const char* const kVariables[] = {"RANK",          "WORLD_SIZE",    "LOCAL_RANK",         "MASTER_ADDR",
                                  "MASTER_PORT",   "SLURM_PROCID",  "SLURM_NTASKS",       "SLURM_LOCALID",
                                  "SLURM_JOB_ID",  "SLURM_JOB_NODELIST", "SLURM_STEP_NODELIST",
                                  "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_RUN_ID"};

std::optional<std::string> lookup(const Environment& env, const std::string& name) {
  const auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

long parse_integer(const std::string& name, const std::string& text, long minimum, long maximum) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  CREAM_CHECK(end != text.c_str() && *end == '\0' && value >= minimum && value <= maximum,
              name + ": expected an integer in [" + std::to_string(minimum) + ", " + std::to_string(maximum) +
                  "], got \"" + text + "\"");
  return value;
}

// The first of `names` that is set, parsed; `fallback` when none is.
int integer_of(const Environment& env, std::initializer_list<const char*> names, long minimum, long maximum,
               int fallback) {
  for (const char* name : names)
    if (const auto text = lookup(env, name)) return static_cast<int>(parse_integer(name, *text, minimum, maximum));
  return fallback;
}

}  // namespace

int read_local_rank(const Environment& env) {
  for (const char* name : {"LOCAL_RANK", "SLURM_LOCALID"}) {
    const auto text = lookup(env, name);
    if (!text) continue;
    char* end = nullptr;
    const long value = std::strtol(text->c_str(), &end, 10);
    CREAM_CHECK(end != text->c_str() && *end == '\0' && value >= 0 && value < 1 << 20,
                std::string(name) + ": expected a non-negative integer, got \"" + *text + "\"");
    return static_cast<int>(value);
  }
  return 0;
}

Environment process_environment() {
  Environment env;
  for (const char* name : kVariables)
    if (const char* value = std::getenv(name)) env[name] = value;
  return env;
}

std::string first_slurm_host(const std::string& nodelist) {
  const auto first = nodelist.substr(0, nodelist.find_first_of(",["));
  if (nodelist.size() == first.size() || nodelist[first.size()] == ',') return first;
  // "prefix[03-05,09]...": the first number of the bracket, its zero padding kept.
  const auto open = first.size();
  const auto stop = nodelist.find_first_of("-,]", open + 1);
  CREAM_CHECK(stop != std::string::npos && stop > open + 1,
              "SLURM_JOB_NODELIST: cannot read the first host of \"" + nodelist + "\"");
  return first + nodelist.substr(open + 1, stop - open - 1);
}

LaunchEnv read_launch_env(const Environment& env) {
  LaunchEnv launch;
  const bool torchrun = lookup(env, "WORLD_SIZE").has_value();
  const bool slurm = !torchrun && lookup(env, "SLURM_NTASKS").has_value() && lookup(env, "SLURM_PROCID").has_value();
  launch.world_size = integer_of(env, {"WORLD_SIZE", "SLURM_NTASKS"}, 1, 1 << 20, 1);
  if (!torchrun && !slurm) launch.world_size = 1;
  launch.rank = torchrun ? integer_of(env, {"RANK"}, 0, launch.world_size - 1, 0)
                         : slurm ? integer_of(env, {"SLURM_PROCID"}, 0, launch.world_size - 1, 0) : 0;
  CREAM_CHECK(!torchrun || launch.world_size == 1 || lookup(env, "RANK"),
              "RANK: not set, but WORLD_SIZE is " + std::to_string(launch.world_size));
  launch.local_rank = read_local_rank(env);
  if (!launch.distributed()) return launch;

  launch.launcher = slurm ? "slurm" : lookup(env, "TORCHELASTIC_RUN_ID") ? "torchrun" : "env";
  if (const auto addr = lookup(env, "MASTER_ADDR")) {
    launch.master_addr = *addr;
  } else {
    const auto nodelist = lookup(env, "SLURM_JOB_NODELIST") ? lookup(env, "SLURM_JOB_NODELIST")
                                                               : lookup(env, "SLURM_STEP_NODELIST");
    CREAM_CHECK(slurm && nodelist, "MASTER_ADDR: not set, and " + std::to_string(launch.world_size) +
                                       " processes need the rendezvous host (torchrun and srun set it; see the "
                                       "README's \"Several GPUs and nodes\")");
    launch.master_addr = first_slurm_host(*nodelist);
  }
  if (const auto port = lookup(env, "MASTER_PORT")) {
    launch.master_port = static_cast<int>(parse_integer("MASTER_PORT", *port, 1, 65535));
  } else {
    const auto job = lookup(env, "SLURM_JOB_ID");
    CREAM_CHECK(slurm && job, "MASTER_PORT: not set, and " + std::to_string(launch.world_size) +
                                  " processes need the rendezvous port");
    launch.master_port = 20000 + static_cast<int>(parse_integer("SLURM_JOB_ID", *job, 0, 1L << 62) % 20000);
  }
  const auto agent = lookup(env, "TORCHELASTIC_USE_AGENT_STORE");
  launch.agent_store = agent && (*agent == "True" || *agent == "true" || *agent == "1");
  launch.store_prefix = "cream/" + lookup(env, "TORCHELASTIC_RESTART_COUNT").value_or("0") + "/";
  return launch;
}

LaunchEnv read_launch_env() { return read_launch_env(process_environment()); }

}  // namespace cream::dist
