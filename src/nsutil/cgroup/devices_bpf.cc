#include "nsutil/cgroup/devices_bpf.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::cg {

namespace {

constexpr uint32_t kAllAccess = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

uint32_t accessBits(const std::string& access) {
  uint32_t bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}

bool sameDevice(const DeviceException& e, const DeviceRule& r) {
  return e.type == r.type && e.major == r.major && e.minor == r.minor;
}

// The instructions the program uses (struct bpf_insn of linux/bpf.h).
bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn loadWord(uint8_t dst, uint8_t src, int16_t off) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn alu32Imm(uint8_t op, uint8_t dst, int32_t imm) {
  return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn mov32Reg(uint8_t dst, uint8_t src) {
  return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn jumpImm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
  return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
bpf_insn exitInsn() {
  return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

int32_t deviceNumber(int64_t v, const char* what) {
  if (v > INT32_MAX)
    throw UserError(fmt::format("device rule {} {} is larger than any device number", what, v));
  return static_cast<int32_t>(v);
}

// One exception's test: falls through to the verdict when it matches; every failed check
// jumps past the block (offsets patched once its length is known).
void appendException(std::vector<bpf_insn>& p, const DeviceException& e, bool defaultAllow) {
  size_t start = p.size();
  p.push_back(jumpImm(BPF_JNE, 2, e.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, 0));
  if (e.major >= 0) p.push_back(jumpImm(BPF_JNE, 4, deviceNumber(e.major, "major"), 0));
  if (e.minor >= 0) p.push_back(jumpImm(BPF_JNE, 5, deviceNumber(e.minor, "minor"), 0));
  if (e.access != kAllAccess) {
    p.push_back(mov32Reg(1, 3));
    if (defaultAllow) {
      // Denied when the request overlaps the exception's access.
      p.push_back(alu32Imm(BPF_AND, 1, static_cast<int32_t>(e.access)));
      p.push_back(jumpImm(BPF_JEQ, 1, 0, 0));
    } else {
      // Allowed when the request has no access bit the exception lacks.
      p.push_back(alu32Imm(BPF_AND, 1, static_cast<int32_t>(kAllAccess & ~e.access)));
      p.push_back(jumpImm(BPF_JNE, 1, 0, 0));
    }
  }
  p.push_back(alu32Imm(BPF_MOV, 0, defaultAllow ? 0 : 1));
  p.push_back(exitInsn());
  size_t next = p.size();
  for (size_t i = start; i < next; ++i)
    if (BPF_CLASS(p[i].code) == BPF_JMP && BPF_OP(p[i].code) != BPF_EXIT)
      p[i].off = static_cast<int16_t>(next - (i + 1));
}

long bpf(int cmd, union bpf_attr* attr) {
  return ::syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

uint64_t ptr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// BPF_PROG_LOAD; with log, the verifier's account of a refusal lands there.
long tryLoad(const std::vector<bpf_insn>& program, std::vector<char>* log) {
  static const char kLicense[] = "Apache";
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = ptr(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = ptr(kLicense);
  std::memcpy(attr.prog_name, kDeviceProgramName, sizeof kDeviceProgramName);
  if (log) {
    attr.log_level = 1;
    attr.log_buf = ptr(log->data());
    attr.log_size = static_cast<uint32_t>(log->size());
  }
  long fd;
  do {
    fd = bpf(BPF_PROG_LOAD, &attr);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

UniqueFd loadProgram(const std::vector<bpf_insn>& program) {
  long fd = tryLoad(program, nullptr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  int err = errno;
  std::string reason;
  if (err == EACCES || err == EINVAL) {
    std::vector<char> log(64 * 1024, '\0');
    fd = tryLoad(program, &log);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    log.back() = '\0';
    reason = log.data();
  }
  throwSysError(err, "bpf(BPF_PROG_LOAD)",
                fmt::format("the cgroup v2 device program (BPF_PROG_TYPE_CGROUP_DEVICE){}{}",
                            reason.empty() ? "" : ": ", reason));
}

// Ids of the device programs attached to the cgroup itself.
std::vector<uint32_t> attachedPrograms(int cgroupFd, const std::string& dir) {
  std::vector<uint32_t> ids(16);
  for (;;) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = static_cast<uint32_t>(cgroupFd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = ptr(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, &attr) == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    if (errno == ENOSPC) {
      ids.resize(attr.query.prog_cnt + 16);
      continue;
    }
    throwSysError(errno, "bpf(BPF_PROG_QUERY)", fmt::format("cgroup '{}'", dir));
  }
}

// An fd for program id if it is one of ours (by name), else an empty fd.
UniqueFd ourProgram(uint32_t id) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_id = id;
  long fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) return UniqueFd();  // gone meanwhile
  UniqueFd prog(static_cast<int>(fd));
  bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  std::memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = static_cast<uint32_t>(prog.get());
  attr.info.info_len = sizeof info;
  attr.info.info = ptr(&info);
  if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) return UniqueFd();
  if (std::strncmp(info.name, kDeviceProgramName, sizeof info.name) != 0) return UniqueFd();
  return prog;
}

}  // namespace

DevicePolicy devicePolicy(const std::vector<DeviceRule>& rules) {
  DevicePolicy p;
  for (const auto& r : rules) {
    if (r.type == 'a') {
      p.defaultAllow = r.allow;
      p.exceptions.clear();
      continue;
    }
    uint32_t access = accessBits(r.access);
    if (r.allow == p.defaultAllow) {
      for (auto& e : p.exceptions)
        if (sameDevice(e, r)) e.access &= ~access;
      std::erase_if(p.exceptions, [](const DeviceException& e) { return e.access == 0; });
      continue;
    }
    auto same = std::find_if(p.exceptions.begin(), p.exceptions.end(),
                             [&](const DeviceException& e) { return sameDevice(e, r); });
    if (same != p.exceptions.end())
      same->access |= access;
    else
      p.exceptions.push_back({r.type, r.major, r.minor, access});
  }
  return p;
}

std::vector<bpf_insn> deviceProgram(const DevicePolicy& policy) {
  std::vector<bpf_insn> p;
  if (!policy.exceptions.empty()) {
    // R2 = device type, R3 = access, R4 = major, R5 = minor (struct bpf_cgroup_dev_ctx).
    p.push_back(loadWord(2, 1, 0));
    p.push_back(alu32Imm(BPF_AND, 2, 0xffff));
    p.push_back(loadWord(3, 1, 0));
    p.push_back(alu32Imm(BPF_RSH, 3, 16));
    p.push_back(loadWord(4, 1, 4));
    p.push_back(loadWord(5, 1, 8));
    for (const auto& e : policy.exceptions) appendException(p, e, policy.defaultAllow);
  }
  p.push_back(alu32Imm(BPF_MOV, 0, policy.defaultAllow ? 1 : 0));
  p.push_back(exitInsn());
  return p;
}

void attachDeviceProgram(const std::vector<bpf_insn>& program, const std::string& dir) {
  UniqueFd cgroup(
      SV_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "cgroup '{}'", dir));
  std::vector<uint32_t> before = attachedPrograms(cgroup.get(), dir);
  UniqueFd prog = loadProgram(program);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cgroup.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &attr) != 0)
    throwSysError(errno, "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)",
                  fmt::format("cgroup '{}'", dir));
  for (uint32_t id : before) {
    UniqueFd old = ourProgram(id);
    if (!old) continue;
    std::memset(&attr, 0, sizeof attr);
    attr.target_fd = static_cast<uint32_t>(cgroup.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(old.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT)
      throwSysError(errno, "bpf(BPF_PROG_DETACH)", fmt::format("cgroup '{}'", dir));
  }
}

std::vector<uint32_t> attachedDevicePrograms(const std::string& dir) {
  UniqueFd cgroup(
      SV_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "cgroup '{}'", dir));
  return attachedPrograms(cgroup.get(), dir);
}

void applyDevicesBpf(const std::vector<DeviceRule>& rules, const std::string& dir) {
  attachDeviceProgram(deviceProgram(devicePolicy(rules)), dir);
}

}  // namespace sv::cg
