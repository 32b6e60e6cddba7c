// Host memory probes: the /proc/self/status parser on a known text, and the live probe
// seeing a 64 MiB block that was touched, then forgetting it after a reset.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "cream/util/memory_usage.h"

using cream::util::parse_proc_status;

TEST(MemoryUsage, ParsesResidentAndPeakInBytes) {
  const auto memory = parse_proc_status("Name:\tcream\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n");
  ASSERT_TRUE(memory.has_value());
  EXPECT_EQ(memory->resident_bytes, 1024u * 1024u);
  EXPECT_EQ(memory->peak_bytes, 2048u * 1024u);
}

TEST(MemoryUsage, MissingOrMalformedLinesGiveNothing) {
  EXPECT_FALSE(parse_proc_status("VmRSS:\t 1024 kB\n").has_value());
  EXPECT_FALSE(parse_proc_status("VmRSS:\t 1024 kB\nVmHWM:\t lots\n").has_value());
  EXPECT_FALSE(parse_proc_status("VmRSSX:\t 1 kB\nVmHWM:\t 2 kB\n").has_value());
}

TEST(MemoryUsage, PeakSeesATouchedBlockAndResetForgetsIt) {
  const auto before = cream::util::read_host_memory();
  ASSERT_TRUE(before.has_value()) << "no /proc/self/status";
  ASSERT_TRUE(cream::util::reset_host_peak()) << "/proc/self/clear_refs not writable";
  constexpr size_t kBlock = 64u << 20;
  {
    std::unique_ptr<char[]> block(new char[kBlock]);
    std::memset(block.get(), 1, kBlock);  // resident only once written
    const auto during = cream::util::read_host_memory();
    EXPECT_GE(during->resident_bytes, before->resident_bytes + kBlock * 9 / 10);
  }
  const auto after_free = cream::util::read_host_memory();
  EXPECT_GE(after_free->peak_bytes, before->resident_bytes + kBlock * 9 / 10);
  ASSERT_TRUE(cream::util::reset_host_peak());
  const auto after_reset = cream::util::read_host_memory();
  // Freed large blocks go back to the kernel (glibc unmaps allocations this size).
  EXPECT_LT(after_reset->peak_bytes, after_free->peak_bytes - kBlock / 2);
}
