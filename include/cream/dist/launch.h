// Where this process sits among the processes of one run, read from the launcher's
// environment: torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) or
// SLURM's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR defaults to the
// first host of SLURM_JOB_NODELIST and MASTER_PORT to 20000 + SLURM_JOB_ID mod 20000).
// The torchrun names win where both are set. Nothing set: one process.
#pragma once

#include <map>
#include <string>

namespace cream::dist {

struct LaunchEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr;  // the rendezvous store's host
  int master_port = 0;
  std::string launcher = "single";  // "torchrun", "slurm", "env" (variables set by hand) or "single"
  // torchrun's agent already serves a TCPStore at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank is its client, none hosts one.
  bool agent_store = false;
  // Key prefix of this attempt in the store (torchrun restarts a failed group).
  std::string store_prefix = "cream/0/";

  bool distributed() const { return world_size > 1; }
};

using Environment = std::map<std::string, std::string>;

// The process environment (only the variables read here).
Environment process_environment();

// Reads `env`. A variable that is malformed, out of range or inconsistent (RANK >=
// WORLD_SIZE, a missing MASTER_ADDR for several processes) throws cream::Error
// naming it.
LaunchEnv read_launch_env(const Environment& env);
LaunchEnv read_launch_env();

// LOCAL_RANK, else SLURM_LOCALID, else 0 (one GPU per local rank); a value that is
// not a non-negative integer throws cream::Error naming the variable.
int read_local_rank(const Environment& env);

// The first host of a SLURM node list: "gpu[03-05,09],cpu1" -> "gpu03".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace cream::dist
