#include "cream/model/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "cream/model/rope.h"
#include "cream/util/error.h"
#include "cream/util/fs.h"

namespace cream::model {
namespace {

using nlohmann::json;

// Reads fields of one JSON object, reporting "<source>: <prefix><key>: <problem>".
class FieldReader {
 public:
  FieldReader(const json& object, std::string source, std::string prefix = "")
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error(source_ + ": " + prefix_ + key + ": " + problem);
  }
  // Absent and null both mean "not given", as in HF.
  bool has(const std::string& key) const { return object_.contains(key) && !object_.at(key).is_null(); }
  // Written at all, null included (where HF's default differs from null).
  bool present(const std::string& key) const { return object_.contains(key); }

  std::optional<int64_t> optional_int(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    const auto& v = object_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())
      return static_cast<int64_t>(v.get<double>());
    fail(key, "must be an integer, got " + describe(v));
  }
  int64_t required_int(const std::string& key) const {
    if (!has(key)) fail(key, "required field is missing");
    return *optional_int(key);
  }
  std::optional<double> optional_number(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    const auto& v = object_.at(key);
    if (!v.is_number()) fail(key, "must be a number, got " + describe(v));
    return v.get<double>();
  }
  std::optional<bool> optional_bool(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    const auto& v = object_.at(key);
    if (!v.is_boolean()) fail(key, "must be true or false, got " + describe(v));
    return v.get<bool>();
  }
  std::optional<std::string> optional_string(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    const auto& v = object_.at(key);
    if (!v.is_string()) fail(key, "must be a string, got " + describe(v));
    return v.get<std::string>();
  }
  std::vector<double> number_list(const std::string& key) const {
    if (!has(key)) return {};
    const auto& v = object_.at(key);
    if (!v.is_array()) fail(key, "must be a list of numbers, got " + describe(v));
    std::vector<double> out;
    for (const auto& e : v) {
      if (!e.is_number()) fail(key, "must be a list of numbers, got an element " + describe(e));
      out.push_back(e.get<double>());
    }
    return out;
  }
  // One id or a list of ids (Llama-3.1's eos_token_id).
  std::vector<int64_t> id_list(const std::string& key) const {
    if (!has(key)) return {};
    const auto& v = object_.at(key);
    if (v.is_number_integer()) return {v.get<int64_t>()};
    if (!v.is_array()) fail(key, "must be a token id or a list of token ids, got " + describe(v));
    std::vector<int64_t> out;
    for (const auto& e : v) {
      if (!e.is_number_integer()) fail(key, "must be a list of token ids, got an element " + describe(e));
      out.push_back(e.get<int64_t>());
    }
    return out;
  }
  const json& raw(const std::string& key) const { return object_.at(key); }
  const json& object(const std::string& key) const {
    const auto& v = object_.at(key);
    if (!v.is_object()) fail(key, "must be an object, got " + describe(v));
    return v;
  }
  const std::string& source() const { return source_; }

 private:
  static std::string describe(const json& v) { return std::string(v.type_name()) + " " + v.dump(); }

  const json& object_;
  std::string source_;
  std::string prefix_;
};

// The rope block: HF v4 `rope_scaling` or v5 `rope_parameters` (which may carry rope_theta).
void read_rope(const FieldReader& top, const std::string& block_key, LlamaConfig& c) {
  const json& block = top.object(block_key);
  const FieldReader r(block, top.source(), block_key + ".");
  // transformers 5 nests one block per layer type ({"full_attention": {...}, ...}) for models
  // that mix attention kinds; reading it as one flat block would silently mean plain RoPE.
  for (const auto& [key, value] : block.items())
    if (value.is_object()) r.fail(key, "per-layer rope parameters are not supported (one block for every layer)");
  if (auto theta = r.optional_number("rope_theta")) c.rope_theta = *theta;
  // HF prefers `type` when both spellings are present.
  std::string type_key = r.has("type") ? "type" : "rope_type";
  auto type_name = r.optional_string(type_key);
  if (!type_name) {
    if (block_key == "rope_parameters") type_name = "default";
    else r.fail("rope_type", "missing (give `type` or `rope_type`)");
  }
  auto type = parse_rope_type(*type_name);
  if (!type)
    r.fail(type_key, "unknown rope type \"" + *type_name +
                         "\" (known: default, linear, ntk, dynamic, yarn, yarn-cream, llama3, longrope)");
  if (auto partial = r.optional_number("partial_rotary_factor"); partial && *partial != 1.0)
    r.fail("partial_rotary_factor", json(*partial).dump() + " is not supported (cream rotates the whole head)");
  RopeScaling& rope = c.rope;
  rope.type = *type;
  const bool needs_factor = *type != RopeType::Default && *type != RopeType::LongRope;
  if (auto factor = r.optional_number("factor")) rope.factor = *factor;
  else if (needs_factor) r.fail("factor", "required for rope type " + *type_name);
  rope.original_max_position_embeddings = r.optional_int("original_max_position_embeddings");
  // Phi-3-style configs keep the pre-trained window at the top level.
  if (!rope.original_max_position_embeddings)
    rope.original_max_position_embeddings = top.optional_int("original_max_position_embeddings");
  if (auto v = r.optional_number("beta_fast")) rope.beta_fast = *v;
  if (auto v = r.optional_number("beta_slow")) rope.beta_slow = *v;
  rope.attention_factor = r.optional_number("attention_factor");
  rope.mscale = r.optional_number("mscale");
  rope.mscale_all_dim = r.optional_number("mscale_all_dim");
  if (auto v = r.optional_bool("truncate")) rope.truncate = *v;
  if (*type == RopeType::Llama3) {
    for (const char* key : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!r.has(key)) r.fail(key, "required for rope type llama3");
  }
  if (auto v = r.optional_number("low_freq_factor")) rope.low_freq_factor = *v;
  if (auto v = r.optional_number("high_freq_factor")) rope.high_freq_factor = *v;
  rope.short_factor = r.number_list("short_factor");
  rope.long_factor = r.number_list("long_factor");
  if (*type == RopeType::LongRope) {
    if (rope.short_factor.empty()) r.fail("short_factor", "required for rope type longrope");
    if (rope.long_factor.empty()) r.fail("long_factor", "required for rope type longrope");
    // HF derives the factor from the windows when the config does not give it.
    if (!r.has("factor") && rope.original_max_position_embeddings)
      rope.factor = static_cast<double>(c.max_position_embeddings) /
                    static_cast<double>(*rope.original_max_position_embeddings);
  }
}

void read_sizes(const FieldReader& r, LlamaConfig& c) {
  c.hidden_size = r.required_int("hidden_size");
  c.intermediate_size = r.required_int("intermediate_size");
  c.num_attention_heads = r.required_int("num_attention_heads");
  c.num_hidden_layers = r.required_int("num_hidden_layers");
  c.vocab_size = r.required_int("vocab_size");
  // HF's defaults when the key is absent (null means "as many as the query heads" in all three).
  int64_t default_kv_heads = c.num_attention_heads;
  if (!r.present("num_key_value_heads") && c.family == ModelFamily::Mistral) default_kv_heads = 8;
  if (!r.present("num_key_value_heads") && c.family == ModelFamily::Qwen2) default_kv_heads = 32;
  if (c.family == ModelFamily::Mistral) c.max_position_embeddings = 4096 * 32;
  if (c.family == ModelFamily::Qwen2) c.max_position_embeddings = 32768;
  c.num_key_value_heads = r.optional_int("num_key_value_heads").value_or(default_kv_heads);
  if (c.num_attention_heads > 0 && !r.has("head_dim")) {
    if (c.hidden_size % c.num_attention_heads != 0)
      r.fail("hidden_size", "(" + std::to_string(c.hidden_size) + ") is not divisible by num_attention_heads (" +
                                std::to_string(c.num_attention_heads) + ") and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  } else {
    c.head_dim = r.optional_int("head_dim").value_or(0);
  }
  c.max_position_embeddings = r.optional_int("max_position_embeddings").value_or(c.max_position_embeddings);
}

void read_flags_and_ids(const FieldReader& r, LlamaConfig& c) {
  if (auto v = r.optional_number("rms_norm_eps")) c.rms_norm_eps = *v;
  if (auto v = r.optional_number("rope_theta")) c.rope_theta = *v;
  if (auto v = r.optional_bool("tie_word_embeddings")) c.tie_word_embeddings = *v;
  // Only LlamaForCausalLM reads these; Qwen2 / Mistral fix their biases in code and ignore the
  // keys, so `true` there promises tensors that transformers would not create.
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    const auto v = r.optional_bool(key);
    if (!v) continue;
    if (c.family == ModelFamily::Llama) (std::string(key) == "attention_bias" ? c.attention_bias : c.mlp_bias) = *v;
    else if (*v)
      r.fail(key, std::string("true is not read by ") + architecture_name(c.family) +
                      (c.family == ModelFamily::Qwen2 ? " (biases on q_proj/k_proj/v_proj always, none elsewhere)"
                                                      : " (no biases)"));
  }
  c.bos_token_id = r.optional_int("bos_token_id");
  c.eos_token_ids = r.id_list("eos_token_id");
  c.pad_token_id = r.optional_int("pad_token_id");
  if (auto v = r.optional_string("dtype")) c.torch_dtype = *v;
  else if (auto v2 = r.optional_string("torch_dtype")) c.torch_dtype = *v2;
  if (auto act = r.optional_string("hidden_act"); act && *act != "silu")
    r.fail("hidden_act", "\"" + *act + "\" is not supported (Llama uses silu)");
}

// Refuses `key` unless it is a list whose every entry is the string `only`.
void require_all_equal(const FieldReader& r, const std::string& key, const std::string& only,
                       const std::string& why_not) {
  if (!r.has(key)) return;
  const json& entries = r.raw(key);
  if (!entries.is_array()) r.fail(key, "must be a list");
  for (const auto& entry : entries)
    if (!entry.is_string() || entry.get<std::string>() != only) r.fail(key, entry.dump() + why_not);
}

constexpr ModelFamily kFamilies[] = {ModelFamily::Llama, ModelFamily::Qwen2, ModelFamily::Mistral};
constexpr const char* kSupportedClasses = "LlamaForCausalLM, Qwen2ForCausalLM and MistralForCausalLM";

// transformers loads many architectures from the same kind of folder; cream runs the Llama
// decoder in three spellings, so anything else is refused by name before its sizes produce a
// confusing error. model_type decides (as AutoModel does); architectures must agree with it.
ModelFamily read_architecture(const FieldReader& r) {
  std::optional<ModelFamily> family;
  const auto type = r.optional_string("model_type");
  if (type) {
    for (auto f : kFamilies)
      if (*type == model_type_name(f)) family = f;
    if (!family)
      r.fail("model_type", "\"" + *type + "\" is not supported (cream runs model_type llama, qwen2 and mistral: " +
                               kSupportedClasses + ")");
  }
  if (!r.has("architectures")) return family.value_or(ModelFamily::Llama);
  const json& entries = r.raw("architectures");
  if (!entries.is_array()) r.fail("architectures", "must be a list");
  for (const auto& entry : entries) {
    std::optional<ModelFamily> named;
    for (auto f : kFamilies)
      if (entry.is_string() && entry.get<std::string>() == architecture_name(f)) named = f;
    if (!named) r.fail("architectures", entry.dump() + " is not supported (cream runs " + kSupportedClasses + ")");
    if (!family) family = named;
    if (*named == *family) continue;
    if (type)
      r.fail("model_type", "\"" + *type + "\" disagrees with architectures entry " + entry.dump() + " (a " +
                               architecture_name(*named) + " has model_type \"" + model_type_name(*named) + "\")");
    r.fail("architectures", "names two families (" + std::string(architecture_name(*family)) + " and " +
                                architecture_name(*named) + ")");
  }
  return family.value_or(ModelFamily::Llama);
}

// Mistral and Qwen2 keep their sliding-window keys (written back by to_json); whether a
// window is active is LlamaConfig::active_sliding_window, checked against the sequence
// actually run (check_sequence_length). Mistral ignores layer_types in transformers; other
// runtimes may not, so only full_attention layers are accepted there.
void read_family_window(const FieldReader& r, LlamaConfig& c) {
  // HF's default window is 4096 when the key is absent, none when it is null.
  c.sliding_window = r.present("sliding_window") ? r.optional_int("sliding_window") : std::optional<int64_t>(4096);
  if (c.sliding_window && *c.sliding_window <= 0)
    r.fail("sliding_window", std::to_string(*c.sliding_window) + " must be positive (or null for none)");
  if (c.family == ModelFamily::Mistral) {
    require_all_equal(r, "layer_types", "full_attention",
                      " layers are not supported for MistralForCausalLM (only full_attention)");
    return;
  }
  c.use_sliding_window = r.optional_bool("use_sliding_window").value_or(false);
  c.max_window_layers = r.optional_int("max_window_layers").value_or(28);
  if (!r.has("layer_types")) return;
  const json& entries = r.raw("layer_types");
  if (!entries.is_array()) r.fail("layer_types", "must be a list");
  for (const auto& entry : entries) {
    const bool known = entry.is_string() &&
                       (entry.get<std::string>() == "full_attention" || entry.get<std::string>() == "sliding_attention");
    if (!known) r.fail("layer_types", entry.dump() + " layers are not supported (full_attention or sliding_attention)");
    c.layer_types.push_back(entry.get<std::string>());
  }
}

// A Llama has no sliding window in transformers; a window key on one is suspicious enough
// (a Mistral or Qwen2 folder relabelled?) to be refused when it would matter at all.
void read_attention_pattern(const FieldReader& r, LlamaConfig& c) {
  if (c.family != ModelFamily::Llama) return read_family_window(r, c);
  const std::string unsupported = "sliding-window attention is not supported (cream attends to every earlier token)";
  const auto use = r.optional_bool("use_sliding_window");
  if (use && *use) r.fail("use_sliding_window", unsupported);
  // Qwen2-style configs keep a window next to use_sliding_window: false; only an active one counts.
  if (auto window = r.optional_int("sliding_window"); !use && window && *window < c.max_position_embeddings)
    r.fail("sliding_window", std::to_string(*window) + " is below max_position_embeddings (" +
                                 std::to_string(c.max_position_embeddings) + "): " + unsupported);
  require_all_equal(r, "layer_types", "full_attention", " layers are not supported (only full_attention)");
}

void check(bool ok, const std::string& source, const std::string& field, const std::string& problem) {
  if (!ok) throw Error(source + ": " + field + ": " + problem);
}

void validate_rope(const LlamaConfig& c, const std::string& source) {
  const auto& r = c.rope;
  check(c.rope_theta > 1.0, source, "rope_theta", "must be > 1");
  if (r.type == RopeType::Default) return;
  check(r.factor > 0.0 && std::isfinite(r.factor), source, "rope_scaling.factor", "must be a positive number");
  if (r.original_max_position_embeddings)
    check(*r.original_max_position_embeddings > 0, source, "rope_scaling.original_max_position_embeddings",
          "must be positive");
  if (r.type == RopeType::Yarn || r.type == RopeType::YarnCream)
    check(r.beta_fast > 0.0 && r.beta_slow > 0.0, source, "rope_scaling.beta_fast", "beta_fast and beta_slow must be > 0");
  if (r.type == RopeType::Llama3)
    check(r.low_freq_factor > 0.0 && r.high_freq_factor > r.low_freq_factor, source,
          "rope_scaling.high_freq_factor", "must exceed low_freq_factor (> 0)");
  if (r.type == RopeType::LongRope) {
    const auto expected = static_cast<size_t>(c.head_dim / 2);
    check(r.short_factor.size() == expected, source, "rope_scaling.short_factor",
          "needs head_dim / 2 = " + std::to_string(expected) + " entries, got " + std::to_string(r.short_factor.size()));
    check(r.long_factor.size() == expected, source, "rope_scaling.long_factor",
          "needs head_dim / 2 = " + std::to_string(expected) + " entries, got " + std::to_string(r.long_factor.size()));
    for (double f : r.short_factor) check(f > 0.0, source, "rope_scaling.short_factor", "entries must be > 0");
    for (double f : r.long_factor) check(f > 0.0, source, "rope_scaling.long_factor", "entries must be > 0");
  }
}

json rope_scaling_json(const LlamaConfig& c) {
  const auto& r = c.rope;
  json out;
  auto set_type = [&](const char* name) {
    out["type"] = name;
    out["rope_type"] = name;
  };
  const int64_t n0 = c.original_window();
  if (r.type == RopeType::YarnCream) {
    // Exactly expressible as longrope: per-dimension wavelength factors (1-w)s + w.
    const auto keep = yarn_keep_weights(c);
    std::vector<double> factors(keep.size());
    for (size_t i = 0; i < keep.size(); ++i) factors[i] = (1.0 - keep[i]) * r.factor + keep[i];
    set_type("longrope");
    out["short_factor"] = factors;
    out["long_factor"] = factors;
    out["attention_factor"] = yarn_attention_factor(r);
    out["original_max_position_embeddings"] = n0;
    out["factor"] = r.factor;
    return out;
  }
  set_type(rope_type_name(r.type));
  out["factor"] = r.factor;
  out["original_max_position_embeddings"] = n0;
  if (r.type == RopeType::Yarn) {
    out["beta_fast"] = r.beta_fast;
    out["beta_slow"] = r.beta_slow;
    if (r.attention_factor) out["attention_factor"] = *r.attention_factor;
    if (r.mscale) out["mscale"] = *r.mscale;
    if (r.mscale_all_dim) out["mscale_all_dim"] = *r.mscale_all_dim;
    if (!r.truncate) out["truncate"] = false;
  } else if (r.type == RopeType::Llama3) {
    out["low_freq_factor"] = r.low_freq_factor;
    out["high_freq_factor"] = r.high_freq_factor;
  } else if (r.type == RopeType::LongRope) {
    out["short_factor"] = r.short_factor;
    out["long_factor"] = r.long_factor;
    if (r.attention_factor) out["attention_factor"] = *r.attention_factor;
  }
  return out;
}

}  // namespace

const char* architecture_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::Llama: return "LlamaForCausalLM";
    case ModelFamily::Qwen2: return "Qwen2ForCausalLM";
    case ModelFamily::Mistral: return "MistralForCausalLM";
  }
  return "?";
}

const char* model_type_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::Llama: return "llama";
    case ModelFamily::Qwen2: return "qwen2";
    case ModelFamily::Mistral: return "mistral";
  }
  return "?";
}

const char* rope_type_name(RopeType type) {
  switch (type) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Ntk: return "ntk";
    case RopeType::Dynamic: return "dynamic";
    case RopeType::Yarn: return "yarn";
    case RopeType::YarnCream: return "yarn-cream";
    case RopeType::Llama3: return "llama3";
    case RopeType::LongRope: return "longrope";
  }
  return "?";
}

std::optional<RopeType> parse_rope_type(const std::string& name) {
  if (name == "none") return RopeType::Default;
  for (auto t : {RopeType::Default, RopeType::Linear, RopeType::Ntk, RopeType::Dynamic, RopeType::Yarn,
                 RopeType::YarnCream, RopeType::Llama3, RopeType::LongRope})
    if (name == rope_type_name(t)) return t;
  return std::nullopt;
}

int64_t LlamaConfig::original_window() const {
  return rope.original_max_position_embeddings.value_or(max_position_embeddings);
}

LlamaConfig LlamaConfig::from_json(const json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": the config must be a JSON object");
  const FieldReader r(j, source);
  LlamaConfig c;
  c.source = source;
  c.family = read_architecture(r);
  read_sizes(r, c);
  read_flags_and_ids(r, c);
  read_attention_pattern(r, c);
  if (auto partial = r.optional_number("partial_rotary_factor"); partial && *partial != 1.0)
    r.fail("partial_rotary_factor", json(*partial).dump() + " is not supported (cream rotates the whole head)");
  // v5's rope_parameters wins over a leftover v4 rope_scaling.
  if (r.has("rope_parameters")) read_rope(r, "rope_parameters", c);
  else if (r.has("rope_scaling")) read_rope(r, "rope_scaling", c);
  c.validate(source);
  return c;
}

LlamaConfig LlamaConfig::from_file(const std::filesystem::path& path) {
  const std::string text = util::read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + e.what() + ")");
  }
  return from_json(j, path.string());
}

void LlamaConfig::validate(const std::string& source) const {
  auto positive = [&](int64_t v, const char* field) {
    check(v > 0, source, field, "must be positive, got " + std::to_string(v));
  };
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(vocab_size, "vocab_size");
  positive(max_position_embeddings, "max_position_embeddings");
  check(num_attention_heads % num_key_value_heads == 0, source, "num_key_value_heads",
        "(" + std::to_string(num_key_value_heads) + ") must divide num_attention_heads (" +
            std::to_string(num_attention_heads) + ")");
  check(head_dim % 2 == 0, source, "head_dim", "must be even for RoPE, got " + std::to_string(head_dim));
  check(rms_norm_eps > 0.0, source, "rms_norm_eps", "must be positive");
  if (family != ModelFamily::Llama) {
    const std::string no_such = std::string("must be false for ") + architecture_name(family);
    check(!attention_bias, source, "attention_bias", no_such);
    check(!mlp_bias, source, "mlp_bias", no_such);
  }
  if (sliding_window) check(*sliding_window > 0, source, "sliding_window", "must be positive (or null for none)");
  if (!layer_types.empty())
    check(family == ModelFamily::Qwen2 && static_cast<int64_t>(layer_types.size()) == num_hidden_layers, source,
          "layer_types", "needs one entry per layer (" + std::to_string(num_hidden_layers) + "), got " +
                             std::to_string(layer_types.size()));
  validate_rope(*this, source);
}

std::optional<int64_t> LlamaConfig::active_sliding_window() const {
  if (!sliding_window || family == ModelFamily::Llama) return std::nullopt;
  if (family == ModelFamily::Mistral) return sliding_window;
  // transformers 5's Qwen2Config: no window unless use_sliding_window; then the layers that
  // layer_types marks sliding_attention, or (no layer_types) those from max_window_layers on.
  if (!use_sliding_window) return std::nullopt;
  const bool any = layer_types.empty()
                       ? num_hidden_layers > max_window_layers
                       : std::find(layer_types.begin(), layer_types.end(), "sliding_attention") != layer_types.end();
  return any ? sliding_window : std::nullopt;
}

void LlamaConfig::check_sequence_length(int64_t tokens) const {
  const auto window = active_sliding_window();
  if (!window || tokens <= *window) return;
  const std::string w = std::to_string(*window);
  throw Error((source.empty() ? std::string("model config") : source) + ": sliding_window: " + w +
              " is shorter than the " + std::to_string(tokens) + "-token sequence requested (" +
              architecture_name(family) + " attends to the last " + w +
              " tokens only, cream to every earlier token: only sequences of at most " + w + " tokens are the same model)");
}

json LlamaConfig::to_json() const {
  json j;
  j["architectures"] = {architecture_name(family)};
  j["model_type"] = model_type_name(family);
  j["hidden_act"] = "silu";
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["num_hidden_layers"] = num_hidden_layers;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (family == ModelFamily::Llama) {
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = mlp_bias;
  } else {
    // Explicit null: absent would mean HF's default window of 4096.
    j["sliding_window"] = sliding_window ? json(*sliding_window) : json(nullptr);
  }
  if (family == ModelFamily::Qwen2) {
    j["use_sliding_window"] = use_sliding_window;
    j["max_window_layers"] = max_window_layers;
    if (!layer_types.empty()) j["layer_types"] = layer_types;
  }
  j["torch_dtype"] = torch_dtype;
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids.front();
  else if (!eos_token_ids.empty()) j["eos_token_id"] = eos_token_ids;
  if (pad_token_id) j["pad_token_id"] = *pad_token_id;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = nullptr;
  if (rope.type == RopeType::Ntk) {
    // HF has no static NTK type: the changed base says it all.
    const double d = static_cast<double>(head_dim);
    j["rope_theta"] = rope_theta * std::pow(rope.factor, d / (d - 2.0));
  } else if (rope.type != RopeType::Default) {
    j["rope_scaling"] = rope_scaling_json(*this);
  }
  return j;
}

int64_t LlamaConfig::num_parameters() const {
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t attention = hidden_size * q + 2 * hidden_size * kv + q * hidden_size;
  if (qkv_bias()) attention += q + 2 * kv;
  if (o_proj_bias()) attention += hidden_size;
  int64_t mlp = 3 * hidden_size * intermediate_size;
  if (mlp_bias) mlp += 2 * intermediate_size + hidden_size;
  const int64_t layer = attention + mlp + 2 * hidden_size;
  const int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_hidden_layers * layer + embeddings + hidden_size;
}

}  // namespace cream::model
