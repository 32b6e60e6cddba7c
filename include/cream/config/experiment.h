// The experiment config: loading (file + --set overrides), validation, the
// resolved YAML saved with each run, and the resume compatibility checks.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cream/config/sections.h"

namespace cream::config {

struct ExperimentConfig {
  ModelSection model;
  DataSection data;
  PositionsSection positions;
  RopeSection rope;
  TrainSection train;
  OptimSection optim;
  ScheduleSection schedule;
  EvalSection eval;
  CheckpointSection checkpoint;
  LogSection log;
  DistSection dist;

  // Where the values came from, for error messages only (not compared).
  std::string source = "<config>";
  std::vector<std::string> overridden;  // key paths set by --set

  // Fills the defaults that depend on other keys (rope.factor = L/N, cream
  // options, continuity_length 0 -> 4f, eval.lengths = [L], tokenizer).
  // Idempotent; the loader calls it before validate().
  void resolve();

  // Every check, per section and across sections. Throws cream::Error with one
  // line "<source>: <key path>: <problem>".
  void validate(int world_size = 1) const;

  // Legal but suspicious settings (e.g. a yarn factor other than L/N), one line
  // each. Loading does not log them: the caller (cream train) does.
  std::vector<std::string> warnings() const;

  // Micro-batches per optimizer step on each process.
  int64_t accumulation_steps(int world_size = 1) const {
    return train.global_batch / (train.micro_batch * world_size);
  }

  template <typename Self, typename Visitor>
  static void sections(Self& s, Visitor&& v) {
    v("model", s.model);
    v("data", s.data);
    v("positions", s.positions);
    v("rope", s.rope);
    v("train", s.train);
    v("optim", s.optim);
    v("schedule", s.schedule);
    v("eval", s.eval);
    v("checkpoint", s.checkpoint);
    v("log", s.log);
    v("dist", s.dist);
  }
};

// Same resolved values in every key (source and overridden are ignored).
bool operator==(const ExperimentConfig& a, const ExperimentConfig& b);
inline bool operator!=(const ExperimentConfig& a, const ExperimentConfig& b) { return !(a == b); }

// Reads, overrides, resolves and validates. `overrides` are "section.key=value"
// strings as given to `--set`; each value is parsed as a YAML scalar or flow
// list (`--set optim.betas=[0.9,0.95]`), and `null`, `~` or nothing after `=`
// removes the key so that its default applies. Everything is checked before
// the caller does any work; problems throw cream::Error naming the key path.
ExperimentConfig load_experiment(const std::filesystem::path& path,
                                 const std::vector<std::string>& overrides = {}, int world_size = 1);
ExperimentConfig parse_experiment(const std::string& yaml_text, const std::string& source = "<string>",
                                  const std::vector<std::string>& overrides = {}, int world_size = 1);

// Every key path the config accepts ("model.path", ...), in document order.
std::vector<std::string> known_key_paths();

// The resolved config: every key that has a value, one section per block, in
// document order. parse_experiment(to_yaml(c)) == c.
std::string to_yaml(const ExperimentConfig& config);

// (key path, value as written in to_yaml) for every key that has a value.
std::vector<std::pair<std::string, std::string>> flatten(const ExperimentConfig& config);

// Keys that must not change when a run resumes: the model, its dtype and
// tokenizer, the data stream (train data, short_docs, seed, global_batch), the
// lengths, the sampler and the RoPE scaling.
bool is_resume_protected(const std::string& key_path);

// 16 hex digits identifying the resume-protected values (FNV-1a 64 of their
// resolved text). Equal fingerprints mean that no protected key changed.
std::string fingerprint(const ExperimentConfig& config);

struct ConfigChange {
  std::string key_path;
  std::string before;  // "(unset)" when the key has no value
  std::string after;
  bool protected_key = false;
};

// Every key whose resolved value differs, protected keys first, then in
// document order.
std::vector<ConfigChange> diff_for_resume(const ExperimentConfig& saved, const ExperimentConfig& current);

// The --resume policy: a change to a resume-protected key (the model, its dtype
// and tokenizer, the data stream, the lengths, the sampler, the RoPE scaling)
// refuses to resume (one cream::Error line listing them) unless `force`. Other
// changes (steps, lr, logging, checkpoint cadence, ...) are allowed. Every
// change is returned so that the caller can log it.
std::vector<ConfigChange> check_resume(const ExperimentConfig& saved, const ExperimentConfig& current,
                                       bool force);

// The file name of the resolved config inside a run folder.
inline constexpr const char* kResolvedConfigName = "config.yaml";

// Writes to_yaml(config) atomically to run_dir / kResolvedConfigName.
void write_resolved_config(const ExperimentConfig& config, const std::filesystem::path& run_dir);

}  // namespace cream::config
