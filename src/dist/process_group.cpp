// ProcessGroup on c10d: TCPStore rendezvous, Gloo or NCCL, heartbeats and named failures.
#include "cream/dist/process_group.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

// c10d's Gloo backend is compiled into libtorch_cpu; its header needs the macro.
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CREAM_CUDA
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "cream/util/error.h"
#include "cream/util/log.h"

namespace cream::dist {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string this_host() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

std::string join_ranks(const std::vector<int>& ranks) {
  std::string text;
  for (const int r : ranks) text += (text.empty() ? "" : ", ") + std::to_string(r);
  return (ranks.size() == 1 ? "rank " : "ranks ") + text;
}

c10::intrusive_ptr<c10d::TCPStore> connect_store(const LaunchEnv& env, bool server, std::chrono::seconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = server;
  options.numWorkers = std::nullopt;
  options.waitWorkers = false;
  options.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
}

void put(const c10::intrusive_ptr<c10d::TCPStore>& store, const std::string& key, const std::string& value) {
  store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

}  // namespace

struct ProcessGroup::Impl {
  LaunchEnv env;
  torch::Device device{torch::kCPU};
  GroupOptions options;
  std::string backend_name;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  CommStats stats;
  int64_t status_round = 0;
  bool hosts_store = false;

  std::thread heartbeat;
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_stop;
  bool stopping = false;

  std::string key(const std::string& name) const { return env.store_prefix + name; }
  std::string rank_key(const std::string& name, int rank) const { return key(name + "/" + std::to_string(rank)); }
  std::string where() const { return env.master_addr + ":" + std::to_string(env.master_port); }

  void connect() {
    hosts_store = env.rank == 0 && !env.agent_store;
    try {
      store = connect_store(env, hosts_store, options.timeout);
    } catch (const std::exception& e) {
      throw Error("dist: rank " + std::to_string(env.rank) + " cannot reach the rendezvous store at " + where() +
                  (hosts_store ? " (it hosts it: is the port in use?)" : " within " +
                                     std::to_string(options.timeout.count()) + " s (rank 0 never arrived?)") +
                  ": " + first_line(e.what()));
    }
    put(store, rank_key("arrived", env.rank), this_host() + " pid " + std::to_string(getpid()));
    wait_for_everyone("arrived", "did not arrive");
  }

  // Waits until every rank has set rank_key(name, r); names the missing ones.
  void wait_for_everyone(const std::string& name, const std::string& missing_verb) {
    std::vector<std::string> keys;
    for (int r = 0; r < env.world_size; ++r) keys.push_back(rank_key(name, r));
    try {
      store->wait(keys, options.timeout);
    } catch (const std::exception&) {
      std::vector<int> missing;
      for (int r = 0; r < env.world_size; ++r)
        if (!store->check({keys[r]})) missing.push_back(r);
      throw Error("dist: " + join_ranks(missing) + " " + missing_verb + " within " +
                  std::to_string(options.timeout.count()) + " s (dist.timeout_s; " +
                  std::to_string(env.world_size) + " processes, rendezvous at " + where() + ")");
    }
  }

  void create_backend() {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(key("pg/"), store);
#ifdef CREAM_CUDA
    if (device.is_cuda()) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env.rank, env.world_size, nccl_options);
      backend_name = "nccl";
      return;
    }
#endif
    CREAM_CHECK(!device.is_cuda(), "dist: a CUDA device needs a CUDA build of cream (NCCL)");
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
    if (interface && *interface) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else if (is_loopback(env.master_addr)) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    backend = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env.rank, env.world_size, gloo_options);
    backend_name = "gloo";
  }

  // Its own store connection: the main thread may be blocked in a store call.
  void start_heartbeat() {
    heartbeat = std::thread([this] {
      c10::intrusive_ptr<c10d::TCPStore> beat_store;
      try {
        beat_store = connect_store(env, false, std::chrono::seconds(10));
      } catch (const std::exception&) {
        return;
      }
      std::unique_lock<std::mutex> lock(heartbeat_mutex);
      while (!stopping) {
        try {
          beat_store->add(rank_key("heartbeat", env.rank), 1);
        } catch (const std::exception&) {
          return;  // the store is gone: the run is over one way or another
        }
        heartbeat_stop.wait_for(lock, std::chrono::milliseconds(500));
      }
    });
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(heartbeat_mutex);
      stopping = true;
    }
    heartbeat_stop.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  static std::string first_line(const std::string& text) {
    const auto end = text.find('\n');
    return end == std::string::npos ? text : text.substr(0, end);
  }

  std::vector<int64_t> heartbeats() {
    std::vector<int64_t> counts;
    for (int r = 0; r < env.world_size; ++r) counts.push_back(store->add(rank_key("heartbeat", r), 0));
    return counts;
  }

  // Why `operation` broke: a rank that said why, else the ranks whose heartbeat stopped.
  std::string diagnose(const std::string& operation, const std::string& cause) {
    const std::string during = " (during " + operation + " on rank " + std::to_string(env.rank) + ")";
    try {
      store->setTimeout(milliseconds(5000));
      std::vector<int64_t> before;
      for (int attempt = 0; attempt < 30; ++attempt) {
        for (int r = 0; r < env.world_size; ++r) {
          if (r != env.rank && store->check({rank_key("failed", r)}))
            return "dist: rank " + std::to_string(r) + " failed: " + store->get_to_str(rank_key("failed", r));
        }
        if (attempt == 0) before = heartbeats();
        std::this_thread::sleep_for(milliseconds(100));
      }
      const auto after = heartbeats();
      std::vector<int> silent;
      for (int r = 0; r < env.world_size; ++r)
        if (r != env.rank && after[r] == before[r]) silent.push_back(r);
      if (!silent.empty())
        return "dist: " + join_ranks(silent) + " stopped responding (killed, hung or its host is down)" + during;
    } catch (const std::exception&) {
      return "dist: the rendezvous store at " + where() + " is gone (rank 0 or the launcher exited)" + during;
    }
    return "dist: " + operation + " failed on rank " + std::to_string(env.rank) + ": " + first_line(cause);
  }

  void wait(const std::string& operation, const c10::intrusive_ptr<c10d::Work>& work) {
    try {
      work->wait(options.timeout);
    } catch (const std::exception& e) {
      throw Error(diagnose(operation, e.what()));
    }
  }

  void count(int64_t bytes) {
    stats.collectives += 1;
    stats.bytes += bytes;
  }

  template <typename Launch>
  void collective(const std::string& operation, int64_t bytes, Launch&& launch) {
    const auto started = Clock::now();
    c10::intrusive_ptr<c10d::Work> work;
    try {
      work = launch();
    } catch (const std::exception& e) {
      throw Error(diagnose(operation, e.what()));
    }
    wait(operation, work);
    count(bytes);
    stats.seconds += std::chrono::duration<double>(Clock::now() - started).count();
  }

  std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, int64_t>> pending;  // async sums and their bytes

  void all_reduce(const torch::Tensor& tensor, c10d::ReduceOp op, const std::string& operation) {
    std::vector<at::Tensor> list{tensor};
    c10d::AllreduceOptions reduce;
    reduce.reduceOp = op;
    collective(operation, static_cast<int64_t>(tensor.nbytes()), [&] { return backend->allreduce(list, reduce); });
  }

  // The device collectives run on: small host tensors (flags, strings) travel there.
  torch::Device comm_device() const { return backend_name == "nccl" ? device : torch::Device(torch::kCPU); }
};

ProcessGroup::ProcessGroup(const LaunchEnv& env, const torch::Device& device, GroupOptions options)
    : impl_(std::make_unique<Impl>()) {
  CREAM_CHECK(env.distributed(), "dist: a process group needs WORLD_SIZE > 1");
  impl_->env = env;
  impl_->device = device;
  impl_->options = options;
  impl_->connect();
  impl_->start_heartbeat();
  impl_->create_backend();
  log::info("dist: rank {} of {} ({}, local rank {}, {} via {}), rendezvous {}{}", env.rank, env.world_size,
            env.launcher, env.local_rank, impl_->backend_name, device.str(), impl_->where(),
            env.agent_store ? " (torchrun's store)" : "");
}

ProcessGroup::~ProcessGroup() {
  impl_->stop_heartbeat();
  impl_->backend.reset();
}

int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::world_size() const { return impl_->env.world_size; }
const std::string& ProcessGroup::backend_name() const { return impl_->backend_name; }
const CommStats& ProcessGroup::stats() const { return impl_->stats; }

void ProcessGroup::all_reduce_sum(const torch::Tensor& tensor) {
  impl_->all_reduce(tensor, c10d::ReduceOp::SUM, "all_reduce");
}

void ProcessGroup::all_reduce_max(const torch::Tensor& tensor) {
  impl_->all_reduce(tensor, c10d::ReduceOp::MAX, "all_reduce(max)");
}

void ProcessGroup::all_reduce_sum_async(const torch::Tensor& tensor) {
  std::vector<at::Tensor> list{tensor};
  c10d::AllreduceOptions reduce;
  reduce.reduceOp = c10d::ReduceOp::SUM;
  try {
    impl_->pending.emplace_back(impl_->backend->allreduce(list, reduce), static_cast<int64_t>(tensor.nbytes()));
  } catch (const std::exception& e) {
    throw Error(impl_->diagnose("all_reduce", e.what()));
  }
}

void ProcessGroup::wait_pending() {
  const auto started = Clock::now();
  auto pending = std::move(impl_->pending);
  impl_->pending.clear();
  for (const auto& [work, bytes] : pending) {
    impl_->wait("all_reduce", work);
    impl_->count(bytes);
  }
  impl_->stats.seconds += std::chrono::duration<double>(Clock::now() - started).count();
}

void ProcessGroup::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  size_t begin = 0;
  while (begin < tensors.size()) {
    // A bucket: consecutive tensors of one dtype and device, up to bucket_bytes.
    size_t end = begin;
    int64_t bytes = 0;
    while (end < tensors.size() && tensors[end].scalar_type() == tensors[begin].scalar_type() &&
           tensors[end].device() == tensors[begin].device() &&
           (end == begin || bytes + static_cast<int64_t>(tensors[end].nbytes()) <= impl_->options.bucket_bytes)) {
      CREAM_CHECK(tensors[end].defined(), "dist: all_reduce_sum of an undefined tensor");
      bytes += static_cast<int64_t>(tensors[end].nbytes());
      ++end;
    }
    if (end - begin == 1 && tensors[begin].is_contiguous()) {
      all_reduce_sum(tensors[begin]);
    } else {
      std::vector<torch::Tensor> flat;
      for (size_t i = begin; i < end; ++i) flat.push_back(tensors[i].reshape({-1}));
      auto bucket = torch::cat(flat);
      all_reduce_sum(bucket);
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t n = tensors[i].numel();
        tensors[i].copy_(bucket.slice(0, offset, offset + n).view(tensors[i].sizes()));
        offset += n;
      }
    }
    begin = end;
  }
}

void ProcessGroup::broadcast(const torch::Tensor& tensor, int root) {
  torch::NoGradGuard no_grad;
  const auto where = impl_->comm_device();
  const bool staged = tensor.device() != where || !tensor.is_contiguous();
  auto buffer = staged ? tensor.to(where).contiguous() : tensor;
  std::vector<at::Tensor> list{buffer};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  impl_->collective("broadcast", static_cast<int64_t>(tensor.nbytes()),
                    [&] { return impl_->backend->broadcast(list, options); });
  if (staged) tensor.copy_(buffer);
}

std::string ProcessGroup::broadcast_string(const std::string& value, int root) {
  auto length = torch::tensor({static_cast<int64_t>(value.size())}, torch::kLong);
  broadcast(length, root);
  auto bytes = torch::zeros({length.item<int64_t>()}, torch::kUInt8);
  if (rank() == root) std::copy(value.begin(), value.end(), bytes.data_ptr<uint8_t>());
  if (bytes.numel() > 0) broadcast(bytes, root);
  const auto* data = bytes.data_ptr<uint8_t>();
  return std::string(data, data + bytes.numel());
}

std::vector<std::string> ProcessGroup::gather_failures(const std::string& mine) {
  auto& s = *impl_;
  const std::string round = "status/" + std::to_string(s.status_round++);
  if (!mine.empty()) put(s.store, s.rank_key(round, rank()), mine);
  auto flags = torch::zeros({world_size()}, torch::kInt);
  flags[rank()] = mine.empty() ? 0 : 1;
  auto on_device = flags.to(s.comm_device());
  all_reduce_sum(on_device);
  flags = on_device.cpu();
  std::vector<std::string> failures;
  for (int r = 0; r < world_size(); ++r)
    if (flags[r].item<int>() != 0) failures.push_back("rank " + std::to_string(r) + ": " + s.store->get_to_str(s.rank_key(round, r)));
  return failures;
}

void ProcessGroup::barrier() {
  auto token = torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt).device(impl_->comm_device()));
  impl_->all_reduce(token, c10d::ReduceOp::SUM, "barrier");
}

void ProcessGroup::report_failure(const std::string& message) noexcept {
  auto& s = *impl_;
  try {
    s.store->setTimeout(milliseconds(5000));
    put(s.store, s.rank_key("failed", rank()), message);
    put(s.store, s.rank_key("exited", rank()), "failed");
  } catch (...) {
  }
  // Peers blocked in a collective with this rank learn of it when its connections close.
  try {
    if (s.backend) s.backend->abort();
  } catch (...) {
  }
  s.backend.reset();
  if (!s.hosts_store) return;
  // The store dies with this process: give the others time to read why (they exit, or
  // their heartbeat stops), at most 30 s.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  try {
    auto others = [&] {
      auto counts = s.heartbeats();
      counts[rank()] = 0;  // this process still beats
      return counts;
    };
    auto last = others();
    auto last_change = Clock::now();
    while (Clock::now() < deadline) {
      bool everyone_gone = true;
      for (int r = 1; r < world_size(); ++r)
        if (!s.store->check({s.rank_key("exited", r)})) everyone_gone = false;
      if (everyone_gone) return;
      std::this_thread::sleep_for(milliseconds(200));
      const auto now = others();
      if (now != last) {
        last = now;
        last_change = Clock::now();
      } else if (Clock::now() - last_change > std::chrono::seconds(3)) {
        return;  // the others stopped beating: gone
      }
    }
  } catch (...) {
  }
}

void ProcessGroup::finish() {
  barrier();
  auto& s = *impl_;
  put(s.store, s.rank_key("exited", rank()), "done");
  if (s.hosts_store) s.wait_for_everyone("exited", "did not finish");
}

}  // namespace cream::dist
