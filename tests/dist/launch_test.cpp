#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cream/dist/launch.h"
#include "cream/util/error.h"

namespace cream::dist {
namespace {

void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected a cream::Error";
  } catch (const cream::Error& e) {
    const std::string message = e.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
  }
}

TEST(LaunchEnv, NothingSetIsOneProcess) {
  const auto env = read_launch_env(Environment{});
  EXPECT_EQ(env.world_size, 1);
  EXPECT_EQ(env.rank, 0);
  EXPECT_FALSE(env.distributed());
}

TEST(LaunchEnv, TorchrunVariables) {
  const auto env = read_launch_env({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"},
                                    {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29400"},
                                    {"TORCHELASTIC_RUN_ID", "x"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                    {"TORCHELASTIC_RESTART_COUNT", "2"}});
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node7");
  EXPECT_EQ(env.master_port, 29400);
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_TRUE(env.agent_store);
  EXPECT_EQ(env.store_prefix, "cream/2/");
}

TEST(LaunchEnv, SlurmVariablesAndDefaults) {
  const auto env = read_launch_env({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                    {"SLURM_JOB_NODELIST", "gpu[03-05,09]"}, {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(env.rank, 5);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "gpu03");
  EXPECT_EQ(env.master_port, 20000 + 123456 % 20000);
  EXPECT_EQ(env.launcher, "slurm");
}

TEST(LaunchEnv, TorchrunNamesWinOverSlurm) {
  const auto env = read_launch_env({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"},
                                    {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}});
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.launcher, "env");
}

TEST(LaunchEnv, ErrorsNameTheVariable) {
  expect_error([] { read_launch_env({{"RANK", "2"}, {"WORLD_SIZE", "2"}}); }, {"RANK", "[0, 1]", "\"2\""});
  expect_error([] { read_launch_env({{"RANK", "0"}, {"WORLD_SIZE", "two"}}); }, {"WORLD_SIZE", "\"two\""});
  expect_error([] { read_launch_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}}); }, {"MASTER_ADDR", "not set"});
  expect_error([] { read_launch_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}); },
                     {"MASTER_PORT", "not set"});
  expect_error(
      [] { read_launch_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}); },
      {"MASTER_PORT", "65535"});
  expect_error([] { read_launch_env({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}); },
                     {"RANK", "not set"});
}

TEST(SlurmNodelist, FirstHost) {
  EXPECT_EQ(first_slurm_host("node1"), "node1");
  EXPECT_EQ(first_slurm_host("node1,node2"), "node1");
  EXPECT_EQ(first_slurm_host("gpu[03-05,09],cpu1"), "gpu03");
  EXPECT_EQ(first_slurm_host("a-b[7]"), "a-b7");
  expect_error([] { first_slurm_host("gpu["); }, {"SLURM_JOB_NODELIST", "gpu["});
}

}  // namespace
}  // namespace cream::dist
