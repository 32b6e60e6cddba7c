#include "cream/util/memory_usage.h"

#include <fstream>
#include <sstream>
#include <string>

namespace cream::util {
namespace {

// "VmHWM:\t  123456 kB" -> 123456 * 1024; nullopt when `line` is not `key`'s line.
std::optional<uint64_t> kilobytes_field(const std::string& line, const std::string& key) {
  if (line.compare(0, key.size(), key) != 0 || line.size() <= key.size() || line[key.size()] != ':')
    return std::nullopt;
  std::istringstream fields(line.substr(key.size() + 1));
  uint64_t value = 0;
  std::string unit;
  if (!(fields >> value >> unit) || unit != "kB") return std::nullopt;
  return value * 1024;
}

}  // namespace

std::optional<HostMemory> parse_proc_status(const std::string& text) {
  std::optional<uint64_t> resident, peak;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (auto value = kilobytes_field(line, "VmRSS")) resident = value;
    if (auto value = kilobytes_field(line, "VmHWM")) peak = value;
  }
  if (!resident || !peak) return std::nullopt;
  return HostMemory{*resident, *peak};
}

std::optional<HostMemory> read_host_memory() {
  std::ifstream in("/proc/self/status");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return parse_proc_status(text.str());
}

bool reset_host_peak() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace cream::util
