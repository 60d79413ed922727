#include "fusefs/sysctl_table.h"

#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <vector>

namespace sv::fs {
namespace {

using S = SysctlScope;

constexpr SysctlValue ints(int64_t min = INT_MIN, int64_t max = INT_MAX, uint8_t count = 1) {
  return {.type = SysctlType::kInt, .count = count, .min = min, .max = static_cast<uint64_t>(max)};
}
constexpr SysctlValue ulongs(uint64_t max) {
  return {.type = SysctlType::kUlong, .min = 0, .max = max};
}

// The kernel's own handlers and bounds (proc_dointvec is any C int). 64-bit kernels.
constexpr int64_t kPidMaxMin = 301;        // RESERVED_PIDS + 1
constexpr int64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT
constexpr int64_t kNrOpenMin = 64;         // BITS_PER_LONG
constexpr int64_t kNrOpenMax = INT_MAX & -64;  // min(INT_MAX, SIZE_MAX / sizeof(void*)) & -64

constexpr auto kRules = std::to_array<SysctlRule>({
    // Namespaced: net (netns), uts, ipc (incl. fs/mqueue), user namespace limits, pid ns.
    {"net/", S::kNamespaced},
    {"user/", S::kNamespaced},
    {"fs/mqueue/", S::kNamespaced},
    {"kernel/hostname", S::kNamespaced},
    {"kernel/domainname", S::kNamespaced},
    {"kernel/shmmax", S::kNamespaced},
    {"kernel/shmall", S::kNamespaced},
    {"kernel/shmmni", S::kNamespaced},
    {"kernel/shm_rmid_forced", S::kNamespaced},
    {"kernel/shm_next_id", S::kNamespaced},
    {"kernel/msgmax", S::kNamespaced},
    {"kernel/msgmni", S::kNamespaced},
    {"kernel/msgmnb", S::kNamespaced},
    {"kernel/msg_next_id", S::kNamespaced},
    {"kernel/auto_msgmni", S::kNamespaced},  // kernels before 4.1
    {"kernel/sem", S::kNamespaced},
    {"kernel/sem_next_id", S::kNamespaced},
    {"kernel/ns_last_pid", S::kNamespaced},
    // Set at boot by the container's init; kept per container. Ranges are the kernel's: panic,
    // panic_on_oops, printk and sysrq are plain proc_dointvec, whatever int is written.
    {"kernel/panic", S::kLocal, ints()},
    {"kernel/panic_on_oops", S::kLocal, ints()},
    {"kernel/printk", S::kLocal, ints(INT_MIN, INT_MAX, 4)},
    {"kernel/sysrq", S::kLocal, ints()},
    {"kernel/kptr_restrict", S::kLocal, ints(0, 2)},
    {"kernel/dmesg_restrict", S::kLocal, ints(0, 1)},
    {"kernel/pid_max", S::kLocal, ints(kPidMaxMin, kPidMaxLimit)},
    {"kernel/yama/ptrace_scope", S::kLocal,
     {.type = SysctlType::kInt, .min = 0, .max = 3, .stickyMax = true}},
    {"vm/overcommit_memory", S::kLocal, ints(0, 2)},
    {"vm/mmap_min_addr", S::kLocal, ulongs(UINT64_MAX)},
    {"fs/protected_hardlinks", S::kLocal, ints(0, 1)},
    {"fs/protected_symlinks", S::kLocal, ints(0, 1)},
    {"fs/protected_fifos", S::kLocal, ints(0, 2)},
    {"fs/protected_regular", S::kLocal, ints(0, 2)},
    // Limits: the container's value must hold on the host too, so a larger one raises it. The
    // two net/ knobs are global (nf_conntrack_max) or treated so; exact rules beat "net/".
    {"fs/file-max", S::kPushIfLarger, ulongs(INT64_MAX)},
    {"fs/nr_open", S::kPushIfLarger, ints(kNrOpenMin, kNrOpenMax)},
    {"net/netfilter/nf_conntrack_max", S::kPushIfLarger, ints(0, INT_MAX)},
    {"net/unix/max_dgram_qlen", S::kPushIfLarger, ints()},
    {"kernel/cap_last_cap", S::kHostReadOnly},
    {"kernel/ngroups_max", S::kHostReadOnly},
    {"kernel/random/uuid", S::kFresh},
});

constexpr SysctlRule kDeniedRule{"", S::kDenied};

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}
// What may follow a number (the kernel's proc_wspace_sep); "5\r" is EINVAL.
bool isSeparator(char c) { return c == ' ' || c == '\t' || c == '\n'; }

int digitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

struct Number {
  bool negative = false;
  uint64_t magnitude = 0;
};

// One number at s[i] like the kernel's proc_get_long: an optional '-', then strtoul in base 0
// (0x hex, leading 0 octal), then the end or a separator. False on anything else or overflow.
bool parseNumber(std::string_view s, size_t& i, Number& out) {
  out = {};
  if (i < s.size() && s[i] == '-') {
    out.negative = true;
    ++i;
  }
  if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
  unsigned base = 10;
  if (s[i] == '0') {
    base = 8;
    if (i + 2 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X') && digitValue(s[i + 2]) < 16) {
      base = 16;
      i += 2;
    }
  }
  for (; i < s.size(); ++i) {
    auto d = static_cast<unsigned>(digitValue(s[i]));
    if (d >= base) break;
    if (out.magnitude > (UINT64_MAX - d) / base) return false;
    out.magnitude = out.magnitude * base + d;
  }
  return i == s.size() || isSeparator(s[i]);
}

// Up to `count` whitespace-separated numbers; what follows them is left unread, as the kernel
// does. `rest` (when given) receives the index after the last number.
bool parseNumbers(std::string_view s, size_t count, std::vector<Number>& out,
                  size_t* rest = nullptr) {
  out.clear();
  size_t i = 0;
  while (out.size() < count) {
    while (i < s.size() && isSpace(s[i])) ++i;
    if (i == s.size()) break;
    Number n;
    if (!parseNumber(s, i, n)) return false;
    out.push_back(n);
  }
  if (rest) *rest = i;
  return !out.empty();
}

// Whether n is within the rule's C type and bounds.
bool inRange(const SysctlValue& v, const Number& n, int64_t min) {
  if (n.negative) {
    if (v.type != SysctlType::kInt || n.magnitude > uint64_t{1} << 31) return false;
    return -static_cast<int64_t>(n.magnitude) >= min;  // 2^31 fits int64_t
  }
  if (n.magnitude > v.max) return false;
  return min <= 0 || n.magnitude >= static_cast<uint64_t>(min);
}

// -1 / 0 / 1 like a <=> b.
int compare(const Number& a, const Number& b) {
  if (a.negative != b.negative) {
    if (a.magnitude == 0 && b.magnitude == 0) return 0;  // -0 == 0
    return a.negative ? -1 : 1;
  }
  if (a.magnitude == b.magnitude) return 0;
  bool less = a.magnitude < b.magnitude;
  return (less != a.negative) ? -1 : 1;
}

void append(std::string& out, const Number& n) {
  if (n.negative && n.magnitude != 0) out += '-';
  out += std::to_string(n.magnitude);
}

SysctlWrite checkNumbers(const SysctlValue& v, std::string_view written,
                         std::string_view current) {
  std::vector<Number> values;
  if (!parseNumbers(written, v.count, values)) return {EINVAL, {}};
  std::vector<Number> now;
  bool haveCurrent = parseNumbers(current, v.count, now);
  int64_t min = v.min;
  // yama_dointvec_minmax: a value at max locks it there.
  if (v.stickyMax && haveCurrent && !now[0].negative && now[0].magnitude == v.max) {
    min = static_cast<int64_t>(v.max);
  }
  for (const Number& n : values) {
    if (!inRange(v, n, min)) return {EINVAL, {}};
  }
  // A shorter write changes the leading values only (echo 4 > printk).
  if (values.size() < v.count) {
    if (!haveCurrent || now.size() < v.count) return {EINVAL, {}};
    values.insert(values.end(), now.begin() + static_cast<ptrdiff_t>(values.size()), now.end());
  }
  SysctlWrite w;
  for (size_t k = 0; k < values.size(); ++k) {
    if (k) w.value += '\t';
    append(w.value, values[k]);
  }
  w.value += '\n';
  return w;
}

// proc_dostring: the first line, cut to the buffer (maxlen - 1 bytes), kept as written.
SysctlWrite checkText(const SysctlValue& v, std::string_view written) {
  size_t end = written.find_first_of(std::string_view("\n\0", 2));
  std::string_view line = written.substr(0, end);
  if (v.max > 0 && line.size() > v.max - 1) line = line.substr(0, v.max - 1);
  return {0, std::string(line) + '\n'};
}

}  // namespace

std::span<const SysctlRule> sysctlRules() { return kRules; }

const SysctlRule& lookupSysctl(std::string_view path) {
  const SysctlRule* best = nullptr;
  for (const SysctlRule& r : kRules) {
    if (r.path == path) return r;
    if (!r.path.ends_with('/')) continue;
    bool under = path.starts_with(r.path) || path == r.path.substr(0, r.path.size() - 1);
    if (under && (!best || r.path.size() > best->path.size())) best = &r;
  }
  return best ? *best : kDeniedRule;
}

SysctlWrite checkSysctlWrite(const SysctlRule& rule, std::string_view written,
                             std::string_view current) {
  switch (rule.scope) {
    case S::kNamespaced:
      return {0, std::string(written)};
    case S::kHostReadOnly:
    case S::kFresh:
    case S::kDenied:
      return {EACCES, {}};
    case S::kLocal:
    case S::kPushIfLarger:
      break;
  }
  switch (rule.value.type) {
    case SysctlType::kInt:
    case SysctlType::kUlong:
      return checkNumbers(rule.value, written, current);
    case SysctlType::kText:
      return checkText(rule.value, written);
    case SysctlType::kNone:
      break;
  }
  return {EACCES, {}};  // a rule without a check stores nothing
}

bool mustRaiseHost(std::string_view hostValue, std::string_view mine) {
  // The host's text and ours are whole values: anything after them means we misread one.
  constexpr size_t kMaxValues = 16;
  auto parseAll = [](std::string_view s, std::vector<Number>& out) {
    size_t rest = 0;
    if (!parseNumbers(s, kMaxValues, out, &rest)) return false;
    while (rest < s.size() && isSpace(s[rest])) ++rest;
    return rest == s.size();
  };
  std::vector<Number> host, ours;
  if (!parseAll(hostValue, host) || !parseAll(mine, ours) || host.size() != ours.size()) {
    return false;
  }
  bool larger = false;
  for (size_t k = 0; k < host.size(); ++k) {
    int c = compare(ours[k], host[k]);
    if (c < 0) return false;  // pushing would lower this one
    larger |= c > 0;
  }
  return larger;
}

}  // namespace sv::fs
