// How much memory this process holds and has held, read from the kernel (Linux
// /proc/self/status). `cream bench` and the memory plan's check measure peak host
// memory as the peak resident set over a baseline taken just before the model exists.
// (The CUDA allocator's figures are in cream/train/device_memory.h: they need LibTorch.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cream::util {

struct HostMemory {
  uint64_t resident_bytes = 0;  // VmRSS: pages resident now
  uint64_t peak_bytes = 0;      // VmHWM: the most ever resident since start or the last reset
};

// The current and peak resident set; nullopt where /proc/self/status is missing or
// lacks the two lines (not Linux).
std::optional<HostMemory> read_host_memory();

// Restarts the peak (VmHWM) at the current resident set, by writing "5" to
// /proc/self/clear_refs (Linux 4.0+). False when the kernel refuses: the peak then
// still counts from process start.
bool reset_host_peak();

// Parses the text of /proc/<pid>/status (split out so tests can feed it lines).
std::optional<HostMemory> parse_proc_status(const std::string& text);

}  // namespace cream::util
