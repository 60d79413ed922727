// The one table of /proc/sys rules inside a system container: which knobs live in the
// container's namespaces, which keep a per-container value (and how a write to them is checked),
// which may raise the host's limit, and which the container only reads. Pure logic: the /proc/sys
// handler reads and writes, this file only decides.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sv::fs {

enum class SysctlScope : uint8_t {
  kNamespaced,    // lives in the container's own namespaces (net.*, kernel.hostname, ...): read and
                  // written there through the nsexec helper, whose kernel checks the value
  kLocal,         // per-container value kept by sysvisor-fs, range-checked, never written to
                  // the host
  kPushIfLarger,  // per-container value; the host's is raised when the new one is larger, never
                  // lowered
  kHostReadOnly,  // the host's value, read-only (EACCES on write)
  kFresh,         // generated on every read (kernel/random/uuid)
  kDenied,        // anything else non-namespaced: reads show the host's value, writes EACCES
};

// How the kernel parses the knob, which is how a per-container value is checked.
enum class SysctlType : uint8_t {
  kNone,   // not checked here (namespaced, read-only, fresh, denied)
  kInt,    // proc_dointvec[_minmax]: C ints
  kUlong,  // proc_doulongvec_minmax: unsigned longs, a '-' is EINVAL
  kText,   // proc_dostring: one line, truncated to max - 1 bytes
};

struct SysctlValue {
  SysctlType type = SysctlType::kNone;
  // Values the knob holds (printk: 4). A write may give fewer; the rest keep their current value.
  uint8_t count = 1;
  // Inclusive bounds of each value; min is negative only for kInt, max exceeds INT64_MAX only
  // for kUlong. kText: max is the kernel's buffer size (maxlen).
  int64_t min = 0;
  uint64_t max = 0;
  // yama/ptrace_scope: once the value is max it can no longer be changed (the kernel raises min).
  bool stickyMax = false;
};

struct SysctlRule {
  std::string_view path;  // relative to /proc/sys, e.g. "kernel/panic"; a trailing "/" = subtree
  SysctlScope scope;
  SysctlValue value{};  // for kLocal and kPushIfLarger
};

// The table, in no particular order (lookup does not depend on it).
std::span<const SysctlRule> sysctlRules();

// The rule for a path relative to /proc/sys ("kernel/panic"): an exact rule first, then the
// longest subtree rule above it ("net/" for "net/ipv4/ip_forward"); no rule is a kDenied rule
// whose path is empty.
const SysctlRule& lookupSysctl(std::string_view path);

struct SysctlWrite {
  int error = 0;      // 0, EINVAL (what the kernel rejects) or EACCES (not writable here)
  std::string value;  // the value to store, as the kernel prints it: tab-separated, with "\n"
};

// Validates and normalises a write the way the kernel's handler would: whitespace around and
// between values, numbers in C notation (0x1f, 017), text after the knob's last value ignored
// (the kernel stops there and drops the rest of the write), EINVAL for nothing, a malformed
// number, a value out of range or of the C type. `current` is the value stored now (or the
// host's); it fills the values a shorter write leaves out (printk "4") and decides a sticky max.
// kNamespaced writes pass through unchanged: the kernel in the container's namespaces judges.
SysctlWrite checkSysctlWrite(const SysctlRule& rule, std::string_view written,
                             std::string_view current = {});

// For kPushIfLarger: whether the host's value must be raised to `mine` (both as the kernel prints
// them). True only when every value of mine is >= the host's and one is larger, so writing mine
// never lowers any of the host's values; text that does not parse, or a different count of
// values, is false: the host is left alone when in doubt.
bool mustRaiseHost(std::string_view hostValue, std::string_view mine);

}  // namespace sv::fs
