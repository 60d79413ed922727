// cgroup v2 device rules: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, generated from
// the same rule list the v1 devices.allow/deny files take, attached to the container's
// cgroup2 directory.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nsutil/cgroup/devices.h"

namespace sv::cg {

// What a v1 devices cgroup ends up with after the rules are written in order (the kernel's
// security/device_cgroup.c): a default and the exceptions to it. An "a" rule resets both;
// a rule that agrees with the default removes exact matches from the exceptions (v1 never
// punches a hole into a wider exception); any other rule adds one. Like runc, the start is
// deny-all, so a list without an "a" rule is an allow list.
struct DeviceException {
  char type = 'c';     // 'c' or 'b'
  int64_t major = -1;  // -1 = any
  int64_t minor = -1;
  uint32_t access = 0;  // BPF_DEVCG_ACC_* bits
};
struct DevicePolicy {
  bool defaultAllow = false;
  std::vector<DeviceException> exceptions;
};
DevicePolicy devicePolicy(const std::vector<DeviceRule>& rules);

// The program for a policy. It reads struct bpf_cgroup_dev_ctx from R1 and returns 1 to allow,
// 0 to deny: with a default deny, 1 if the request (type, major, minor, access) is within one
// exception; with a default allow, 0 if it overlaps one. Throws UserError for a major or
// minor the kernel cannot have (> INT32_MAX).
std::vector<bpf_insn> deviceProgram(const DevicePolicy& policy);

// The name our programs carry, which tells them apart from programs others attached.
inline constexpr char kDeviceProgramName[] = "sv_devices";

// Loads the program and attaches it to the cgroup2 directory dir with BPF_F_ALLOW_MULTI, then
// detaches programs of ours attached before (an update replaces them; for a moment both
// apply, which only ever denies more).
void attachDeviceProgram(const std::vector<bpf_insn>& program, const std::string& dir);

// The ids of the device programs attached to the cgroup2 directory dir itself.
std::vector<uint32_t> attachedDevicePrograms(const std::string& dir);

// The two steps above, from the rules.
void applyDevicesBpf(const std::vector<DeviceRule>& rules, const std::string& dir);

}  // namespace sv::cg
