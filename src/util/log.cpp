#include "cream/util/log.h"

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace cream::log {
namespace {

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> made = [] {
    auto created = spdlog::stderr_color_mt("cream");
    created->set_pattern("[%H:%M:%S] %^%l%$ %v");
    return created;
  }();
  return *made;
}

// Info lines held back while a command checks its inputs (see hold_info).
struct Held {
  std::mutex mutex;
  bool holding = false;
  std::chrono::steady_clock::time_point until;
  std::vector<std::pair<spdlog::log_clock::time_point, std::string>> lines;
};

Held& held() {
  static Held instance;
  return instance;
}

// Prints the held lines with their own timestamps; the caller holds the mutex.
void flush_held(Held& h) {
  for (const auto& [when, text] : h.lines) logger().log(when, spdlog::source_loc{}, spdlog::level::info, text);
  h.lines.clear();
  h.holding = false;
}

}  // namespace

void hold_info(std::chrono::seconds at_most) {
  auto& h = held();
  std::lock_guard<std::mutex> lock(h.mutex);
  h.holding = true;
  h.until = std::chrono::steady_clock::now() + at_most;
}

void release_info() {
  auto& h = held();
  std::lock_guard<std::mutex> lock(h.mutex);
  flush_held(h);
}

void drop_held_info() {
  auto& h = held();
  std::lock_guard<std::mutex> lock(h.mutex);
  h.lines.clear();
  h.holding = false;
}

void set_process_label(const std::string& label, bool quiet_info) {
  logger().set_pattern("[%H:%M:%S] " + label + " %^%l%$ %v");
  logger().set_level(quiet_info ? spdlog::level::warn : spdlog::level::info);
}

void write_info(const std::string& message) {
  auto& h = held();
  {
    std::lock_guard<std::mutex> lock(h.mutex);
    if (h.holding && std::chrono::steady_clock::now() < h.until) {
      h.lines.emplace_back(spdlog::log_clock::now(), message);
      return;
    }
    if (h.holding) flush_held(h);  // held long enough: a slow start shows its progress
  }
  logger().info("{}", message);
}
void write_warn(const std::string& message) { logger().warn("{}", message); }

}  // namespace cream::log
