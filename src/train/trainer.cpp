// The training loop. Setup (model, data, optimizer, resume) lives in the Impl
// constructor; Trainer::train() is the loop itself and reads top to bottom.
#include "cream/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include <torch/cuda.h>

#include "cream/data/token_dataset.h"
#include "cream/dist/launch.h"
#include "cream/dist/process_group.h"
#include "cream/data/window_loader.h"
#include "cream/io/checkpoint_folder.h"
#include "cream/io/tokenizer.h"
#include "cream/model/random_init.h"
#include "cream/model/weights.h"
#include "cream/positions/sampler.h"
#include "cream/train/batch.h"
#include "cream/train/device.h"
#include "cream/train/run_folder.h"
#include "cream/train/grad.h"
#include "cream/train/metrics.h"
#include "cream/train/progress.h"
#include "cream/train/rank_checkpoint.h"
#include "cream/train/rope_setup.h"
#include "cream/train/schedule.h"
#include "cream/train/signals.h"
#include "cream/train/trainer_state.h"
#include "cream/train/training_state.h"
#include "cream/util/error.h"
#include "cream/util/folder_lock.h"
#include "cream/util/fs.h"
#include "cream/util/log.h"
#include "cream/util/rng.h"
#include "train/trainer_setup.h"

namespace cream::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using detail::decays;
using detail::format_number;
using detail::hf_dtype_name;
using detail::load_held;
using detail::loader_options;
using detail::open_tokenizer;
using detail::schedule_options;
using detail::set_thread_count;
using detail::training_state_options;


struct Trainer::Impl {
  config::ExperimentConfig config;
  TrainOptions options;
  TrainHooks hooks;
  torch::Device device{torch::kCPU};
  fs::path run_dir;
  model::LlamaConfig model_config;
  std::unique_ptr<io::Tokenizer> tokenizer;

  std::unique_ptr<TrainingState> state;  // weights, gradients, AdamW (train.memory_mode)
  model::LlamaForCausalLM compute{nullptr};  // state->compute(): what forward/backward run on
  std::unique_ptr<LrSchedule> schedule;

  std::unique_ptr<data::TokenDataset> train_data;
  std::unique_ptr<data::TokenDataset> valid_data;
  std::unique_ptr<data::WindowLoader> loader;
  std::unique_ptr<positions::Sampler> sampler;
  util::Rng sampler_rng;
  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<util::FolderLock> run_lock;
  bool created_run_dir = false;
  int64_t step = 0;
  // Several processes (torchrun, srun): the group, else null and rank 0 of 1.
  dist::LaunchEnv launch;
  std::unique_ptr<dist::ProcessGroup> group;

  int rank() const { return launch.rank; }
  int world_size() const { return launch.world_size; }
  bool is_root() const { return launch.rank == 0; }

  Impl(config::ExperimentConfig cfg, TrainOptions opts, TrainHooks hks)
      : config(std::move(cfg)), options(opts), hooks(std::move(hks)) {}

  config::MemoryMode memory_mode() const { return *config.train.memory_mode; }

  void setup() {
    set_thread_count(config.model.threads);
    launch = dist::read_launch_env();
    if (launch.distributed()) log::set_process_label("rank " + std::to_string(rank()), !is_root());
    device = select_device(config.model.device);
    configure_cuda_math(device);
    if (launch.distributed()) {
      dist::GroupOptions options;
      options.timeout = std::chrono::seconds(config.dist.timeout_s);
      options.bucket_bytes = config.dist.bucket_mb << 20;
      group = std::make_unique<dist::ProcessGroup>(launch, device, options);
    }
    run_dir = config.checkpoint.output_dir;
    for (const auto& warning : config.warnings()) log::warn("config: {}", warning);
    CREAM_CHECK(!config.data.train.empty(), config.source + ": data.train: required to train");

    tokenizer = open_tokenizer(config);
    model_config = source_model_config(config);
    if (tokenizer && config.model.path.empty()) model::adopt_tokenizer(model_config, *tokenizer);
    model_config = apply_rope_section(model_config, config);
    model_config.torch_dtype = hf_dtype_name(checkpoint_weight_dtype(memory_mode()));
    warn_if_large_model_falls_back_to_cpu(config.model.device, device.is_cuda(), model_config.num_parameters());

    setup_data();
    lock_run_folder();
    const auto checkpoint = find_resume_checkpoint();
    setup_model(checkpoint ? std::optional<fs::path>(checkpoint->path) : std::nullopt);
    schedule = std::make_unique<LrSchedule>(schedule_options(config));
    if (checkpoint) restore_trainer_state(checkpoint->path);

    check_same_experiment();
    log::release_info();  // the inputs checked out: the held lines (log.h) may show
    if (!is_root()) return;  // rank 0 writes the run folder's config and metrics
    fs::create_directories(run_dir);
    config::write_resolved_config(config, run_dir);
    log::info("resolved config ({}):\n{}", (run_dir / config::kResolvedConfigName).string(), config::to_yaml(config));
    metrics = std::make_unique<MetricsLog>(
        run_dir / "metrics.jsonl", step > 0 ? MetricsStart::resume_after(step) : MetricsStart::fresh(),
        MetricsLog::memory_probe(device));
    if (config.log.tensorboard) metrics->also_write_tensorboard(run_dir / kTensorboardFolder);
  }

  // Every rank must run the same experiment (one config file, the same --set): a rank
  // whose resolved config differs is named with the first line that differs.
  void check_same_experiment() {
    if (!group) return;
    const auto mine = config::to_yaml(config);
    const auto root = group->broadcast_string(mine, 0);
    std::string problem;
    if (root != mine) {
      std::istringstream a(mine), b(root);
      std::string line_a, line_b;
      while (std::getline(a, line_a) && std::getline(b, line_b) && line_a == line_b) {}
      problem = "its resolved config differs from rank 0's at \"" + line_a + "\" (rank 0: \"" + line_b +
                "\"): every rank must run the same experiment";
    }
    const auto failures = group->gather_failures(problem);
    CREAM_CHECK(failures.empty(), "dist: " + failures.front());
  }

  // One run per folder: the lock is taken before anything in it is read or written, and
  // held until the trainer goes away (the kernel drops it if the process is killed).
  void lock_run_folder() {
    if (!is_root()) return;  // rank 0 holds the lock for the whole run
    created_run_dir = !fs::exists(run_dir);
    fs::create_directories(run_dir);
    run_lock = std::make_unique<util::FolderLock>(run_dir, "checkpoint.output_dir");
  }

  // A setup that fails leaves no folder it created behind (only the lock file is in it).
  void discard_created_run_dir() {
    if (!created_run_dir) return;
    run_lock.reset();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(run_dir, ec))
      if (entry.path().filename() != util::FolderLock::kFileName) return;
    fs::remove_all(run_dir, ec);
  }

  void setup_data() {
    train_data = std::make_unique<data::TokenDataset>(config.data.train);
    check_data(*train_data);
    sampler = std::make_unique<positions::Sampler>(config.positions.sampler_options());
    // Each rank draws positions from its own stream and reads every world_size-th window.
    sampler_rng = positions::sampler_stream(static_cast<uint64_t>(config.train.seed), static_cast<uint64_t>(rank()));
    auto options = loader_options(config, config.positions.target_length, sampler->min_window_length(),
                                  static_cast<uint64_t>(config.train.seed), true);
    options.rank = rank();
    options.world_size = world_size();
    options.log_plan = is_root();
    loader = std::make_unique<data::WindowLoader>(*train_data, options);
    if (!config.data.valid.empty()) {
      valid_data = std::make_unique<data::TokenDataset>(config.data.valid);
      check_data(*valid_data);
      // Every evaluation length must find windows now, not at the first evaluation.
      for (const int64_t length : config.eval.every > 0 ? config.eval.lengths : std::vector<int64_t>{}) {
        auto options = loader_options(config, length, length, 0, false);
        options.log_plan = false;
        try {
          data::WindowLoader probe(*valid_data, options);
        } catch (const Error& e) {
          throw Error(config.source + ": eval.lengths: " + std::to_string(length) + ": " + e.what());
        }
      }
    } else if (config.eval.every > 0) {
      log::warn("eval.every is {} but data.valid is not set: no validation during training", config.eval.every);
    }
  }

  void check_data(const data::TokenDataset& dataset) const {
    if (tokenizer) {
      dataset.check_compatible(tokenizer->sha256(), model_config.vocab_size);
    } else {
      CREAM_CHECK(dataset.manifest().vocab_size <= model_config.vocab_size,
                  dataset.folder().string() + ": tokenizer vocabulary (" +
                      std::to_string(dataset.manifest().vocab_size) + ") is larger than the model's vocab_size (" +
                      std::to_string(model_config.vocab_size) + ")");
    }
  }

  std::optional<CheckpointRef> find_resume_checkpoint() const {
    const auto latest = latest_complete_checkpoint(run_dir);
    if (!options.resume) {
      CREAM_CHECK(!latest, "checkpoint.output_dir: " + run_dir.string() + " already holds checkpoint " +
                               latest->path.filename().string() + ": pass --resume to continue it, or choose another output_dir");
      return std::nullopt;
    }
    if (!latest) {
      log::warn("--resume: no complete checkpoint in {}, starting from step 0", run_dir.string());
      return std::nullopt;
    }
    const auto saved = config::load_experiment(latest->path / config::kResolvedConfigName);
    for (const auto& change : config::check_resume(saved, config, options.force))
      log::warn("resume: {} changed from {} to {}{}", change.key_path, change.before, change.after,
                change.protected_key ? " (allowed by --force)" : "");
    log::info("resuming from {}", latest->path.string());
    return latest;
  }

  void setup_model(const std::optional<fs::path>& checkpoint) {
    const auto held = held_weight_options(memory_mode(), config.model.dtype, device);
    model::LlamaForCausalLM model{nullptr};
    if (checkpoint) {
      model = load_held(model_config, *checkpoint, held, "resume");
    } else if (!config.model.path.empty()) {
      model = load_held(model_config, config.model.path, held, "model.path");
    } else {
      model = model::LlamaForCausalLM(model_config, held);
      model::initialize_weights(*model, static_cast<uint64_t>(config.train.seed));
    }
    state = std::make_unique<TrainingState>(std::move(model), config.model.dtype, device,
                                            training_state_options(config, group.get()), decays);
    compute = state->compute();
    compute->model->activation_checkpointing = config.train.activation_checkpointing;
    compute->model->activation_checkpointing_stride = config.train.activation_checkpointing_stride;
    // next_micro_batch checks ids and positions on the host, before the copy.
    compute->check_inputs_on_device = false;
    const auto bytes = state->allocated_bytes();
    log::info("model: {} parameters, {} layers, hidden {}, rope {} (factor {}), {} on {}, memory mode {}{}",
              model_config.num_parameters(), model_config.num_hidden_layers, model_config.hidden_size,
              model::rope_type_name(model_config.rope.type), model_config.rope.factor,
              config::to_string(config.model.dtype), device.str(), config::to_string(memory_mode()),
              config.train.grad_accumulation
                  ? std::string(" (") + config::to_string(*config.train.grad_accumulation) + " accumulation)"
                  : std::string());
    log::info("training state: weights {} MiB, gradients {} MiB, AdamW {} MiB, masters {} MiB ({} MiB on the host)",
              bytes.weights >> 20, bytes.gradients >> 20, bytes.optimizer >> 20, bytes.masters >> 20,
              bytes.host >> 20);
    // The memory plan assumes a fused attention kernel: say which one LibTorch picks.
    if (device.is_cuda()) {
      const int64_t length = sampler->sequence_length();
      const auto dtype = compute->model->parameters().front().scalar_type();
      log::info("attention: SDPA {} kernel at {} tokens", model::sdpa_backend(model_config, length, dtype, device),
                length);
    }
  }

  void restore_trainer_state(const fs::path& folder) {
    const auto written_by = read_trainer_state(folder).world_size;
    CREAM_CHECK(written_by == world_size(),
                folder.string() + ": written by " + std::to_string(written_by) + " process(es), resumed by " +
                    std::to_string(world_size()) + ": each rank's data share and position stream continue only "
                    "with the same world size (or start a new run with model.path: " + folder.string() + ")");
    const auto saved = read_trainer_state(folder, rank());
    const auto optimizer_file = folder / kOptimizerStateFile;
    try {
      // Plain data parallel ranks must round alike: all take rank 0's generator.
      state->load_optimizer_state(read_optimizer_for_rank(folder, config.dist.zero == 1 ? rank() : 0));
    } catch (const Error& e) {
      throw Error(optimizer_file.string() + ": " + e.what());
    }
    step = saved.step;
    sampler_rng = util::Rng::from_state_string(saved.sampler_rng);
    sampler->restore(saved.sampler_draws, saved.sampler_batch_branch);
    loader->restore(saved.loader);
    CREAM_CHECK(state->step_count() == step, optimizer_file.string() + ": optimizer step " +
                                                 std::to_string(state->step_count()) +
                                                 " does not match the trainer step " + std::to_string(step));
  }

  TrainerState trainer_state() const {
    TrainerState state;
    state.step = step;
    state.world_size = world_size();
    state.sampler_rng = sampler_rng.state_string();
    state.sampler_draws = sampler->draws();
    state.sampler_batch_branch = sampler->batch_branch();
    state.loader = loader->state();
    state.config_fingerprint = config::fingerprint(config);
    return state;
  }

  // The model folder and the run's config: rank 0's part of a checkpoint.
  void write_model_files(const fs::path& folder) const {
    util::write_file_atomic(folder / "config.json", model_config.to_json().dump(2) + "\n");
    io::write_checkpoint(folder, named_tensor_sources(state->checkpoint_weights()));
    if (tokenizer) io::copy_tokenizer_files(*tokenizer, folder);
    config::write_resolved_config(config, folder);
  }

  // Each rank's own part: its trainer state and, sharded, its optimizer shard (plain
  // data parallel: every rank holds the same state, rank 0 writes it).
  void write_rank_files(const fs::path& folder, const TrainerState& progress) const {
    write_trainer_state(folder, progress, rank());
    if (group && config.dist.zero == 1) {
      write_optimizer_file(folder / optimizer_shard_file(rank(), world_size()), state->optimizer_state());
    } else if (is_root()) {
      write_optimizer_tensors(folder, state->optimizer_state());
    }
  }

  TrainResult train_steps(Trainer& trainer);  // Trainer::train()'s loop

  fs::path save_checkpoint() {
    const auto progress = trainer_state();
    fs::path path;
    if (!group) {
      path = save_checkpoint_atomic(run_dir, step, [&](const fs::path& folder) {
        write_model_files(folder);
        write_rank_files(folder, progress);
      });
    } else {
      RankFiles files;
      files.write_root = [&](const fs::path& folder) { write_model_files(folder); };
      files.write_rank = [&](const fs::path& folder) { write_rank_files(folder, progress); };
      for (int r = 0; r < world_size(); ++r) {
        files.expected.push_back(trainer_state_file(r));
        if (config.dist.zero == 1) files.expected.push_back(optimizer_shard_file(r, world_size()));
      }
      path = save_checkpoint_across_ranks(*group, run_dir, step, files);
      if (!is_root()) return path;
    }
    const auto pruned = prune_checkpoints(run_dir, static_cast<int>(config.checkpoint.keep));
    log::info("checkpoint {}{}", path.string(), pruned.empty() ? "" : " (older ones pruned)");
    return path;
  }
};

Trainer::Trainer(config::ExperimentConfig config, TrainOptions options, TrainHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(config), options, std::move(hooks))) {
  try {
    impl_->setup();
  } catch (const std::exception& e) {
    if (impl_->group) impl_->group->report_failure(e.what());
    impl_->discard_created_run_dir();
    throw;
  }
}

Trainer::~Trainer() = default;

int64_t Trainer::step() const { return impl_->step; }
const config::ExperimentConfig& Trainer::config() const { return impl_->config; }
const model::LlamaConfig& Trainer::model_config() const { return impl_->model_config; }
torch::Device Trainer::device() const { return impl_->device; }

std::vector<std::pair<std::string, torch::Tensor>> Trainer::master_weights() const {
  return impl_->state->checkpoint_weights();
}

StateBytes Trainer::state_bytes() const { return impl_->state->allocated_bytes(); }

EvalRecord Trainer::evaluate(int64_t length) {
  auto& s = *impl_;
  CREAM_CHECK(s.valid_data, s.config.source + ": data.valid: required for validation");
  torch::NoGradGuard no_grad;
  // A fresh, unshuffled loader: every evaluation scores the same windows.
  auto options = loader_options(s.config, length, length, 0, false);
  options.log_plan = false;
  data::WindowLoader windows(*s.valid_data, options);
  // eval.batches global batches of micro_batch x world_size windows: the same windows
  // whatever the number of processes.
  const int64_t wanted = s.config.eval.batches * s.config.train.micro_batch * s.world_size();
  const int64_t count = std::min<int64_t>(wanted, static_cast<int64_t>(windows.windows_per_epoch()));
  // Several processes: rank r scores windows r, r + W, ...; the sums meet in one all-reduce.
  auto totals = torch::zeros({2}, torch::TensorOptions().dtype(torch::kFloat64).device(s.device));
  std::vector<std::vector<int64_t>> tokens, positions;
  auto score = [&] {
    const auto ids = stack_rows(tokens, s.device);
    const auto loss = s.compute->loss_sum(ids, stack_rows(positions, s.device), ids);
    totals[0] += loss.sum.to(torch::kFloat64);
    totals[1] += loss.count.to(torch::kFloat64);
    tokens.clear();
    positions.clear();
  };
  for (int64_t index = 0; index < count; ++index) {
    const auto window = windows.next();
    if (index % s.world_size() != s.rank()) continue;
    tokens.emplace_back(window.tokens.begin(), window.tokens.end());
    positions.emplace_back(static_cast<size_t>(length));
    for (int64_t p = 0; p < length; ++p) positions.back()[p] = p;
    if (static_cast<int64_t>(tokens.size()) == s.config.train.micro_batch) score();
  }
  if (!tokens.empty()) score();
  if (s.group) s.group->all_reduce_sum(totals);
  const auto host = totals.cpu();
  const double loss_sum = host[0].item<double>();
  const auto labels = static_cast<int64_t>(host[1].item<double>());
  EvalRecord record;
  record.step = s.step;
  record.length = length;
  record.windows = count;
  record.loss = labels > 0 ? loss_sum / static_cast<double>(labels) : 0.0;
  record.perplexity = std::exp(record.loss);
  return record;
}

TrainResult Trainer::train() {
  try {
    return impl_->train_steps(*this);
  } catch (const std::exception& e) {
    // The other ranks learn why this one stops (they are waiting in a collective).
    if (impl_->group) impl_->group->report_failure(e.what());
    throw;
  }
}

TrainResult Trainer::Impl::train_steps(Trainer& trainer) {
  auto& s = *this;
  StopSignalGuard stop_guard;
  TrainResult result;
  result.start_step = s.step;
  const int64_t total = s.config.train.steps;
  const int64_t accumulation = s.config.accumulation_steps(s.world_size());
  const int64_t micro_batch = s.config.train.micro_batch;
  const int64_t sequence_length = s.sampler->sequence_length();
  // Over all ranks: each rank's backward divides by the global count, so the summed
  // gradients are the token-weighted mean of the whole global batch.
  const int64_t sequences_per_step = accumulation * micro_batch * s.world_size();
  const int64_t labels_per_step = sequences_per_step * (sequence_length - 1);
  const int64_t tokens_per_step = sequences_per_step * sequence_length;
  const bool step_in_backward = s.memory_mode() == config::MemoryMode::step_in_backward;
  BatchSource source{*s.loader, *s.sampler, s.sampler_rng, s.model_config.vocab_size};
  EtaEstimator eta;
  double train_seconds_since_log = 0.0;  // evaluation and saving excluded from tokens/s
  int64_t tokens_since_log = 0;
  bool saved_this_step = false;
  double comm_seconds_at_log = 0.0;
  if (s.step >= total) log::info("run already complete at step {} of {}", s.step, total);

  while (s.step < total) {
    const auto started = Clock::now();
    const double lr = s.schedule->lr_at(s.step);
    s.state->begin_step(lr);
    // Forward/backward over the micro-batches; gradients accumulate. The loss sum stays
    // on the device (float64, as the host summed it before): one sync per step, not per
    // micro-batch.
    auto loss_total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(s.device));
    for (int64_t micro = 0; micro < accumulation; ++micro) {
      const MicroBatch batch = next_micro_batch(source, micro_batch, s.device);
      s.state->begin_micro_batch(micro + 1 == accumulation);
      const auto loss = s.compute->loss_sum(batch.tokens, batch.positions, batch.tokens);
      (loss.sum / static_cast<double>(labels_per_step)).backward();
      loss_total.add_(loss.sum.detach());
    }
    if (s.hooks.after_backward) s.hooks.after_backward(s.step, *s.compute);
    // The loss and a stop signal (any rank's) are summed over the ranks, so every rank
    // logs the same loss and takes the same decisions.
    auto totals = torch::stack({loss_total, torch::full({}, stop_requested() ? 1.0 : 0.0, loss_total.options())});
    if (s.group) s.group->all_reduce_sum(totals);
    const double norm = s.state->clip_gradients(s.config.train.grad_clip);
    const auto host_totals = totals.cpu();
    const double loss = host_totals[0].item<double>() / static_cast<double>(labels_per_step);
    const bool stop_now = host_totals[1].item<double>() > 0.0;

    // Stop before the update: the last checkpoint stays the last good state. (In
    // step-in-backward the update already ran, with non-finite tensors masked: the step
    // is simply never saved.)
    if (!std::isfinite(loss) || !std::isfinite(norm)) {
      const auto last = latest_complete_checkpoint(s.run_dir);
      throw Error("step " + std::to_string(s.step + 1) + ": loss " + format_number(loss) + ", gradient norm " +
                  format_number(norm) + ": training stopped " +
                  (step_in_backward ? "without saving this step (its update ran inside backward)"
                                    : "before the optimizer step") +
                  " (last good checkpoint: " + (last ? last->path.string() : std::string("none")) + ")");
    }
    s.state->step(lr);
    ++s.step;

    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    eta.record_step_seconds(seconds);
    train_seconds_since_log += seconds;
    tokens_since_log += tokens_per_step;
    result.steps.push_back({s.step, loss, lr, norm});

    StepMetrics metrics{s.step, loss, lr, norm, 0.0, nlohmann::json::object()};
    const bool eval_now = s.valid_data && s.config.eval.every > 0 &&
                          (s.step % s.config.eval.every == 0 || s.step == total);
    if (eval_now) {
      for (const int64_t length : s.config.eval.lengths) {
        const auto record = trainer.evaluate(length);
        result.evals.push_back(record);
        metrics.extra["eval_loss_" + std::to_string(length)] = record.loss;
        metrics.extra["eval_ppl_" + std::to_string(length)] = record.perplexity;
        log::info("eval step {} length {}: loss {:.4f} ppl {:.3f} ({} windows)", s.step, length, record.loss,
                  record.perplexity, record.windows);
      }
    }
    if (s.step % s.config.log.every == 0 || s.step == total || eval_now) {
      if (s.group) {  // time in collectives (waiting for peers included) since the last line
        metrics.extra["comm_s"] = s.group->stats().seconds - comm_seconds_at_log;
        comm_seconds_at_log = s.group->stats().seconds;
      }
      metrics.tokens_per_s =
          train_seconds_since_log > 0 ? static_cast<double>(tokens_since_log) / train_seconds_since_log : 0.0;
      if (s.metrics) s.metrics->append(metrics);
      log::info("{}", format_progress_line({s.step, total, loss, lr, metrics.tokens_per_s, eta.eta_seconds(total - s.step)}));
      train_seconds_since_log = 0.0;
      tokens_since_log = 0;
    }

    saved_this_step = (s.config.checkpoint.every > 0 && s.step % s.config.checkpoint.every == 0) || s.step == total;
    if (saved_this_step) result.last_checkpoint = s.save_checkpoint();
    if (stop_now) {
      log::info("{}: stopping after step {}",
                stop_requested() ? "signal " + std::to_string(stop_signal()) : std::string("another rank's signal"),
                s.step);
      if (!saved_this_step) result.last_checkpoint = s.save_checkpoint();
      result.stopped_by_signal = true;
      break;
    }
  }
  result.final_step = s.step;
  if (s.group) {
    const auto& comm = s.group->stats();
    log::info("dist: {} collectives, {} MiB sent by this rank, {:.2f} s in them ({})", comm.collectives,
              comm.bytes >> 20, comm.seconds, s.group->backend_name());
    s.group->finish();
  }
  return result;
}

}  // namespace cream::train
