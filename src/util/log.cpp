#include "cream/util/log.h"

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

}  // namespace

void set_process_label(const std::string& label, bool quiet_info) {
  logger().set_pattern("[%H:%M:%S] " + label + " %^%l%$ %v");
  logger().set_level(quiet_info ? spdlog::level::warn : spdlog::level::info);
}

void write_info(const std::string& message) { logger().info("{}", message); }
void write_warn(const std::string& message) { logger().warn("{}", message); }

}  // namespace cream::log
