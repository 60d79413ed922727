// linux.seccomp -> a cBPF program (one libseccomp program per architecture behind a
// dispatcher that also returns ENOSYS for syscalls newer than the profile, as runc does),
// its loading in the init, and the hand-off of the notify listener to the seccomp agent.
//
// Compatibility choices follow runc, whose behaviour images and agents expect:
// - syscall names libseccomp does not know are skipped (the profile may name newer ones);
// - rules whose action equals the default are skipped (libseccomp refuses them);
// - a rule comparing the same argument twice becomes one rule per comparison (OR), otherwise
//   all comparisons form one rule (AND);
// - without "flags" in the profile SECCOMP_FILTER_FLAG_SPEC_ALLOW is set when the kernel has
//   it (the SSB mitigation costs a lot and containers rarely want it);
// - SCMP_ACT_NOTIFY is refused as the default action: the init's own syscalls would wait for
//   an agent that has not got the listener yet.
#include "nsutil/seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "base/build_id.h"
#include "base/fd_passing.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/seccomp_cache.h"

namespace sv::ns::seccomp {
namespace {

using Json = nlohmann::json;

// The version of the runtime-spec whose "container process state" sendListener sends.
constexpr const char* kProcessStateVersion = "1.2.1";

// The init passes the listener fd to the runtime with sendmsg right after loading the filter:
// a notify rule on it would wait for an agent that cannot have the fd yet (runc refuses
// notify on write for the same reason).
constexpr std::string_view kListenerCarrier = "sendmsg";

// ---- tables: runtime-spec names -> libseccomp / kernel values

struct ActionInfo {
  std::string_view name;
  uint32_t value;   // errno bits clear
  bool takesErrno;  // errnoRet goes into the low 16 bits (EPERM when absent)
  bool permissive;  // the syscall runs (or a tracer decides): no ENOSYS stub for this default
};
constexpr ActionInfo kActions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL, false, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true, false},
    // A tracer should handle syscalls it does not know itself (runc counts TRACE as allow).
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true, true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false, true},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false, true},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false, false},
};

struct OpInfo {
  std::string_view name;
  scmp_compare op;
};
constexpr OpInfo kOps[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

struct FlagInfo {
  std::string_view name;
  unsigned value;
};
constexpr FlagInfo kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

// The spec's list (libseccomp 2.6 names); libseccomp resolves the second column. Names this
// libseccomp does not know (2.5.4: loongarch64, m68k, sh) cannot be this host's architecture
// or a compat mode of it, so they are skipped.
struct ArchInfo {
  std::string_view name;
  const char* libseccompName;
};
constexpr ArchInfo kArchs[] = {
    {"SCMP_ARCH_X86", "x86"},
    {"SCMP_ARCH_X86_64", "x86_64"},
    {"SCMP_ARCH_X32", "x32"},
    {"SCMP_ARCH_ARM", "arm"},
    {"SCMP_ARCH_AARCH64", "aarch64"},
    {"SCMP_ARCH_MIPS", "mips"},
    {"SCMP_ARCH_MIPS64", "mips64"},
    {"SCMP_ARCH_MIPS64N32", "mips64n32"},
    {"SCMP_ARCH_MIPSEL", "mipsel"},
    {"SCMP_ARCH_MIPSEL64", "mipsel64"},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
    {"SCMP_ARCH_PPC", "ppc"},
    {"SCMP_ARCH_PPC64", "ppc64"},
    {"SCMP_ARCH_PPC64LE", "ppc64le"},
    {"SCMP_ARCH_S390", "s390"},
    {"SCMP_ARCH_S390X", "s390x"},
    {"SCMP_ARCH_PARISC", "parisc"},
    {"SCMP_ARCH_PARISC64", "parisc64"},
    {"SCMP_ARCH_RISCV64", "riscv64"},
    {"SCMP_ARCH_LOONGARCH64", "loongarch64"},
    {"SCMP_ARCH_M68K", "m68k"},
    {"SCMP_ARCH_SH", "sh"},
    {"SCMP_ARCH_SHEB", "sheb"},
};

template <typename Table>
auto lookup(const Table& table, std::string_view name) -> const std::remove_extent_t<Table>* {
  for (const auto& e : table)
    if (e.name == name) return &e;
  return nullptr;
}

template <typename Table>
std::string names(const Table& table) {
  std::string s;
  for (const auto& e : table) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

// ---- validation helpers; `where` builds the field path, only when there is an error

[[noreturn]] void fail(std::string_view field, std::string_view problem) {
  throw UserError(fmt::format("config.json: \"linux.seccomp{}{}\": {}", field.empty() ? "" : ".",
                              field, problem));
}

// null counts as absent, as in runc (Go's encoding/json).
const Json* member(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

template <typename Where>
const std::string& asString(const Json& v, Where&& where) {
  if (!v.is_string()) fail(where(), "must be a string");
  return v.get_ref<const std::string&>();
}

template <typename Where>
uint64_t asU64(const Json& v, Where&& where) {
  if (!v.is_number_unsigned()) fail(where(), "must be an unsigned integer");
  return v.get<uint64_t>();
}

template <typename Where>
const Json& asArray(const Json& v, Where&& where) {
  if (!v.is_array()) fail(where(), "must be an array");
  return v;
}

// ---- the profile, validated (no libseccomp yet)

struct Rule {
  size_t index;       // in linux.seccomp.syscalls, for messages
  const Json* names;  // array of non-empty strings
  uint32_t action;
  std::vector<scmp_arg_cmp> args;
  bool argsOr = false;  // an argument is compared twice: one rule per comparison (runc)
};

struct Profile {
  uint32_t defaultAction = 0;
  bool permissiveDefault = false;
  bool defaultErrnoIsEnosys = false;
  std::vector<uint32_t> archs;    // libseccomp tokens as listed (the native one is implied)
  std::optional<unsigned> flags;  // as listed; nullopt when "flags" is absent
  bool notify = false;
  std::string listenerPath, listenerMetadata;
  std::vector<Rule> rules;
};

// actionKey/errnoKey: "defaultAction"/"defaultErrnoRet" or "syscalls[i].action"/... .
template <typename Where>
uint32_t parseAction(const Json& obj, const char* actionKey, const char* errnoKey, Where&& where,
                     const ActionInfo** info) {
  const Json* a = member(obj, actionKey);
  if (!a) fail(where(actionKey), "is required");
  const std::string& name = asString(*a, [&] { return where(actionKey); });
  const ActionInfo* act = lookup(kActions, name);
  if (!act)
    fail(where(actionKey),
         fmt::format("unknown action \"{}\"; use one of {}", name, names(kActions)));
  *info = act;
  const Json* e = member(obj, errnoKey);
  if (!act->takesErrno) {
    if (e)
      fail(where(errnoKey), fmt::format("{} returns no errno; only SCMP_ACT_ERRNO and "
                                        "SCMP_ACT_TRACE take one",
                                        name));
    return act->value;
  }
  uint64_t err = EPERM;
  if (e) {
    err = asU64(*e, [&] { return where(errnoKey); });
    // The kernel caps the returned errno at MAX_ERRNO; a larger value would silently change.
    if (err > 4095) fail(where(errnoKey), fmt::format("{} is not an errno (0..4095)", err));
  }
  return act->value | static_cast<uint32_t>(err);
}

void parseArgs(const Json& list, Rule& rule) {
  auto at = [&](size_t j, const char* key) {
    return fmt::format("syscalls[{}].args[{}]{}{}", rule.index, j, *key ? "." : "", key);
  };
  asArray(list, [&] { return fmt::format("syscalls[{}].args", rule.index); });
  rule.args.reserve(list.size());
  unsigned seen = 0;
  for (size_t j = 0; j < list.size(); ++j) {
    const Json& a = list[j];
    if (!a.is_object()) fail(at(j, ""), "must be an object");
    scmp_arg_cmp cmp{};
    const Json* index = member(a, "index");
    if (!index) fail(at(j, "index"), "is required");
    uint64_t i = asU64(*index, [&] { return at(j, "index"); });
    if (i > 5)
      fail(at(j, "index"), fmt::format("{} is out of range: syscalls have 6 arguments (0..5)", i));
    const Json* value = member(a, "value");
    if (!value) fail(at(j, "value"), "is required");
    cmp.datum_a = asU64(*value, [&] { return at(j, "value"); });
    if (const Json* two = member(a, "valueTwo"))
      cmp.datum_b = asU64(*two, [&] { return at(j, "valueTwo"); });
    const Json* op = member(a, "op");
    if (!op) fail(at(j, "op"), "is required");
    const std::string& opName = asString(*op, [&] { return at(j, "op"); });
    const OpInfo* info = lookup(kOps, opName);
    if (!info)
      fail(at(j, "op"), fmt::format("unknown operator \"{}\"; use one of {}", opName, names(kOps)));
    cmp.arg = static_cast<unsigned>(i);
    cmp.op = info->op;
    if (seen & (1u << i)) rule.argsOr = true;
    seen |= 1u << i;
    rule.args.push_back(cmp);
  }
}

Rule parseRule(const Json& s, size_t i, bool& notify) {
  auto at = [&](const char* key) {
    return fmt::format("syscalls[{}]{}{}", i, *key ? "." : "", key);
  };
  if (!s.is_object()) fail(at(""), "must be an object");
  Rule rule{i, nullptr, 0, {}};
  const Json* names = member(s, "names");
  if (!names) fail(at("names"), "is required");
  asArray(*names, [&] { return at("names"); });
  if (names->empty()) fail(at("names"), "must name at least one syscall");
  for (size_t k = 0; k < names->size(); ++k) {
    auto where = [&] { return fmt::format("syscalls[{}].names[{}]", i, k); };
    if (asString((*names)[k], where).empty()) fail(where(), "must not be empty");
  }
  rule.names = names;
  const ActionInfo* act = nullptr;
  rule.action = parseAction(s, "action", "errnoRet", at, &act);
  if (act->value == SCMP_ACT_NOTIFY) {
    notify = true;
    for (const Json& n : *names)
      if (n.get_ref<const std::string&>() == kListenerCarrier)
        fail(at("action"), fmt::format("SCMP_ACT_NOTIFY cannot be used for \"{}\": the container "
                                       "init passes the notify listener to the runtime with it",
                                       kListenerCarrier));
  }
  if (const Json* args = member(s, "args")) parseArgs(*args, rule);
  return rule;
}

void parseArchs(const Json& list, Profile& prof) {
  asArray(list, [] { return std::string("architectures"); });
  for (size_t i = 0; i < list.size(); ++i) {
    auto where = [&] { return fmt::format("architectures[{}]", i); };
    const std::string& name = asString(list[i], where);
    const ArchInfo* arch = lookup(kArchs, name);
    if (!arch)
      fail(where(), fmt::format("unknown architecture \"{}\"; use one of {}", name, names(kArchs)));
    if (uint32_t token = seccomp_arch_resolve_name(arch->libseccompName))
      prof.archs.push_back(token);
  }
}

void parseFlags(const Json& list, Profile& prof) {
  asArray(list, [] { return std::string("flags"); });
  unsigned flags = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    auto where = [&] { return fmt::format("flags[{}]", i); };
    const std::string& name = asString(list[i], where);
    const FlagInfo* flag = lookup(kFlags, name);
    if (!flag)
      fail(where(), fmt::format("unknown flag \"{}\"; use one of {}", name, names(kFlags)));
    flags |= flag->value;
  }
  prof.flags = flags;
}

// Returns nullopt when the profile turns seccomp off (no defaultAction and no syscalls, as
// runc treats it).
std::optional<Profile> parseProfile(const Json& doc) {
  if (!doc.is_object()) fail("", "must be an object");
  const Json* syscalls = member(doc, "syscalls");
  if (syscalls) asArray(*syscalls, [] { return std::string("syscalls"); });
  if (!member(doc, "defaultAction") && (!syscalls || syscalls->empty())) return std::nullopt;

  Profile prof;
  const ActionInfo* def = nullptr;
  prof.defaultAction = parseAction(
      doc, "defaultAction", "defaultErrnoRet", [](const char* key) { return std::string(key); },
      &def);
  if (def->value == SCMP_ACT_NOTIFY)
    fail("defaultAction",
         "SCMP_ACT_NOTIFY cannot be the default action: the container init's "
         "own syscalls would wait for an agent that has no listener yet");
  prof.permissiveDefault = def->permissive;
  prof.defaultErrnoIsEnosys = def->takesErrno && (prof.defaultAction & 0xffff) == ENOSYS;
  if (const Json* a = member(doc, "architectures")) parseArchs(*a, prof);
  if (const Json* f = member(doc, "flags")) parseFlags(*f, prof);
  if (syscalls) {
    prof.rules.reserve(syscalls->size());
    for (size_t i = 0; i < syscalls->size(); ++i)
      prof.rules.push_back(parseRule((*syscalls)[i], i, prof.notify));
  }

  if (const Json* p = member(doc, "listenerPath"))
    prof.listenerPath = asString(*p, [] { return std::string("listenerPath"); });
  if (const Json* m = member(doc, "listenerMetadata"))
    prof.listenerMetadata = asString(*m, [] { return std::string("listenerMetadata"); });
  if (!prof.listenerMetadata.empty() && prof.listenerPath.empty())
    fail("listenerMetadata", "must not be set without listenerPath");
  if (prof.notify && prof.listenerPath.empty())
    fail("listenerPath",
         "is required with SCMP_ACT_NOTIFY rules: set it to the unix socket "
         "of the seccomp agent that handles the notifications");
  if (prof.listenerPath.size() >= sizeof(sockaddr_un::sun_path))
    fail("listenerPath", fmt::format("\"{}\" is longer than a unix socket path can be ({} bytes)",
                                     prof.listenerPath, sizeof(sockaddr_un::sun_path) - 1));
  if (prof.flags && (*prof.flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) && !prof.notify)
    fail("flags",
         "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV only applies to SCMP_ACT_NOTIFY rules, "
         "and there are none");
  return prof;
}

// ---- the program: one libseccomp program per architecture behind our own dispatcher
//
// libseccomp builds a multi-architecture filter in time that grows much faster than the sum
// of its parts. Measured on a profile like Docker's default (~340 syscalls, x86_64 + x86 +
// x32), in CPU time: one combined filter ~20 ms with runc's settings (binary tree) and ~11 ms
// without; one filter per architecture ~8 ms; that plus the insertion order of resolveRules
// ~4.5 ms (a cache hit, see seccomp_cache.h: ~0.2 ms). So each architecture gets a filter
// context of its own (each program checks its own architecture and kills anything else, as
// libseccomp's combined one does) and a short header dispatches on seccomp_data.arch (and
// the x32 bit) to them.
//
// The header also carries the ENOSYS rule. A profile lists the syscalls its author knew
// about; a newer one (clone3, faccessat2, fchmodat2, ...) would get the default action,
// typically EPERM, and glibc, which falls back to an older syscall only on ENOSYS, fails
// instead. libseccomp 2.5.4 has nothing for this (SCMP_FLTATR_API_SYSRAWRC only changes its
// own return codes; there is no "unknown syscall" action), and crun does nothing about it.
// runc prepends a stub: per architecture, a syscall number above the largest one the
// profile names returns ENOSYS. We apply the same rule with the same exceptions (not for
// permissive defaults, not when the default already is ENOSYS). Its known limit: a syscall
// added out of order below that maximum still gets the default action.
//
// No binary-tree optimisation (SCMP_FLTATR_CTL_OPTIMIZE, which runc sets for long
// profiles): it costs ~70% more compile time on every miss, and since Linux 5.11 the kernel
// skips the filter altogether for syscalls it always allows (its action cache), so the tree
// would only speed up denied and argument-checked syscalls, by a few hundred nanoseconds.

constexpr uint32_t kX32Bit = 0x40000000;  // __X32_SYSCALL_BIT

// A forward-only cBPF assembler: jumps name labels, resolved by finish().
class Asm {
 public:
  static constexpr int kNext = -1;
  int label() {
    labels_.push_back(SIZE_MAX);
    return static_cast<int>(labels_.size() - 1);
  }
  void bind(int l) { labels_[l] = code_.size(); }
  void load(uint32_t offset) { code_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset)); }
  void ret(uint32_t k) { code_.push_back(BPF_STMT(BPF_RET | BPF_K, k)); }
  void jump(int l) { add(BPF_JMP | BPF_JA, 0, l, kNext); }
  void branch(uint16_t op, uint32_t k, int jt, int jf) { add(BPF_JMP | op | BPF_K, k, jt, jf); }
  // Code with only relative jumps of its own (a libseccomp program).
  void append(const sock_filter* code, size_t n) { code_.insert(code_.end(), code, code + n); }

  std::vector<sock_filter> finish() {
    for (const Fixup& f : fixups_) {
      sock_filter& insn = code_[f.at];
      auto offset = [&](int l) -> size_t { return l == kNext ? 0 : labels_[l] - f.at - 1; };
      if (BPF_OP(insn.code) == BPF_JA) {
        insn.k = static_cast<uint32_t>(offset(f.jt));
        continue;
      }
      size_t jt = offset(f.jt), jf = offset(f.jf);
      if (jt > 255 || jf > 255) throw std::logic_error("seccomp dispatcher: jump out of range");
      insn.jt = static_cast<uint8_t>(jt);
      insn.jf = static_cast<uint8_t>(jf);
    }
    return std::move(code_);
  }

 private:
  struct Fixup {
    size_t at;
    int jt, jf;
  };
  void add(uint16_t code, uint32_t k, int jt, int jf) {
    fixups_.push_back({code_.size(), jt, jf});
    code_.push_back(BPF_JUMP(code, k, 0, 0));
  }
  std::vector<sock_filter> code_;
  std::vector<size_t> labels_;
  std::vector<Fixup> fixups_;
};

// One architecture's libseccomp program, as exported into the shared memfd.
struct ArchProgram {
  uint32_t token;      // SCMP_ARCH_*
  uint32_t auditArch;  // what the kernel reports: x32 shows up as AUDIT_ARCH_X86_64
  bool x32;
  int max = -1;                   // the largest syscall number the profile names here (-1: none)
  size_t offset = 0, length = 0;  // in instructions
  int label = 0;
};

struct CtxRelease {
  void operator()(void* ctx) const noexcept { seccomp_release(ctx); }
};
using FilterCtx = std::unique_ptr<void, CtxRelease>;

[[noreturn]] void libseccompFailed(int rc, const std::string& what) {
  throw SysError(-rc, fmt::format("libseccomp: {}", what));
}

FilterCtx archFilter(const Profile& prof, uint32_t token) {
  FilterCtx ctx(seccomp_init(prof.defaultAction));
  if (!ctx)
    fail("defaultAction", "libseccomp refused it (is the action supported by this kernel?)");
  if (token != seccomp_arch_native()) {
    if (int rc = seccomp_arch_add(ctx.get(), token); rc < 0)
      libseccompFailed(rc, fmt::format("adding architecture {:#x}", token));
    if (int rc = seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE); rc < 0)
      libseccompFailed(rc, "removing the native architecture");
  }
  return ctx;
}

void addRule(scmp_filter_ctx ctx, const Rule& r, int nr, const std::string& name) {
  auto check = [&](int rc) {
    if (rc < 0)
      fail(fmt::format("syscalls[{}]", r.index),
           fmt::format("libseccomp refused the rule for \"{}\": {}", name, std::strerror(-rc)));
  };
  if (!r.argsOr) {
    check(seccomp_rule_add_array(ctx, r.action, nr, static_cast<unsigned>(r.args.size()),
                                 r.args.data()));
    return;
  }
  for (const scmp_arg_cmp& cmp : r.args) check(seccomp_rule_add_array(ctx, r.action, nr, 1, &cmp));
}

// A syscall rule in native numbers (libseccomp translates them per architecture; negative
// pseudo numbers stand for syscalls that exist only on some architectures).
struct Entry {
  int nr;
  int64_t key;  // orderKey
  const Rule* rule;
  const std::string* name;
};

// Syscalls that some architectures (x86, s390, ppc) reach through one multiplexer, socketcall
// or ipc. libseccomp rewrites a rule for any of them into a rule on the multiplexer there, so
// their rules interact: in Podman's default profile an unconditional socketcall rule absorbs
// the later argument rules on socket, and the same rules added in another order conflict
// (EEXIST). Their rules therefore keep the profile's order among themselves, as in runc.
constexpr std::string_view kSocketcallFamily[] = {
    "socketcall", "socket", "bind", "connect", "listen", "accept", "accept4", "getsockname",
    "getpeername", "socketpair", "send", "recv", "sendto", "recvfrom", "shutdown",
    "setsockopt", "getsockopt", "sendmsg", "recvmsg", "recvmmsg", "sendmmsg"};
constexpr std::string_view kIpcFamily[] = {
    "ipc", "semop", "semget", "semctl", "semtimedop", "msgsnd", "msgrcv", "msgget", "msgctl",
    "shmat", "shmdt", "shmget", "shmctl"};

// The order key of a rule (larger first): the syscall number, or one key shared by a whole
// multiplexed family.
int64_t orderKey(int nr, std::string_view name) {
  auto in = [&](const auto& family) {
    return std::find(std::begin(family), std::end(family), name) != std::end(family);
  };
  if (in(kSocketcallFamily)) return int64_t{INT32_MAX} + 2;
  if (in(kIpcFamily)) return int64_t{INT32_MAX} + 1;
  return nr;
}

// The rules to add, from the largest syscall number down: libseccomp keeps its syscalls in a
// list sorted upwards and walks it from the start on every insertion (twice, with its
// transaction shadow), so this order makes each insertion O(1) instead of O(n); with ~340
// syscalls it saves about a third of the compile time. The sort is stable, so rules for the
// same syscall, and for one multiplexed family, keep the profile's order (the only order that
// can change the outcome). skipped collects the names libseccomp does not know.
std::vector<Entry> resolveRules(const Profile& prof, std::vector<std::string>& skipped) {
  std::vector<Entry> entries;
  for (const Rule& r : prof.rules) {
    const bool redundant = r.action == prof.defaultAction;
    for (const Json& n : *r.names) {
      const std::string& name = n.get_ref<const std::string&>();
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        if (std::find(skipped.begin(), skipped.end(), name) == skipped.end())
          skipped.push_back(name);
      } else if (!redundant) {
        entries.push_back({nr, orderKey(nr, name), &r, &name});
      }
    }
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.key > b.key; });
  return entries;
}

void addRules(scmp_filter_ctx ctx, const std::vector<Entry>& entries) {
  for (const Entry& e : entries) addRule(ctx, *e.rule, e.nr, *e.name);
}

// The largest syscall number on arch among all names in the profile (runc counts the
// redundant rules too); -1 when there is none.
int largestSyscall(const Profile& prof, uint32_t token) {
  int max = -1;
  for (const Rule& r : prof.rules)
    for (const Json& n : *r.names)
      max = std::max(
          max, seccomp_syscall_resolve_name_arch(token, n.get_ref<const std::string&>().c_str()));
  return max;
}

void exportTo(scmp_filter_ctx ctx, int fd, ArchProgram& arch) {
  if (int rc = seccomp_export_bpf(ctx, fd); rc < 0) libseccompFailed(rc, "exporting the program");
  off_t end = SV_SYSCALL(::lseek(fd, 0, SEEK_CUR), "seccomp program memfd");
  if (end % sizeof(sock_filter) != 0)
    throw SysError(EIO, fmt::format("libseccomp exported {} bytes, not whole instructions", end));
  arch.length = static_cast<size_t>(end) / sizeof(sock_filter) - arch.offset;
}

std::vector<sock_filter> readBack(int fd, size_t count) {
  std::vector<sock_filter> code(count);
  auto* dst = reinterpret_cast<char*>(code.data());
  const size_t size = count * sizeof(sock_filter);
  for (size_t done = 0; done < size;) {
    ssize_t n = SV_SYSCALL(::pread(fd, dst + done, size - done, static_cast<off_t>(done)),
                           "seccomp program memfd");
    if (n == 0) throw SysError(EIO, "seccomp program memfd: short read");
    done += static_cast<size_t>(n);
  }
  return code;
}

// The dispatcher, then the programs. archs[0] is the native one; it also takes syscalls of
// unknown architectures, which its own check kills.
std::vector<sock_filter> link(std::vector<ArchProgram>& archs, const std::vector<sock_filter>& code,
                              bool enosys) {
  if (archs.size() == 1 && !enosys) return code;
  Asm a;
  const int enosysRet = a.label();
  for (ArchProgram& arch : archs) arch.label = a.label();
  auto find = [&](uint32_t audit, bool x32) -> ArchProgram* {
    for (ArchProgram& arch : archs)
      if (arch.auditArch == audit && arch.x32 == x32) return &arch;
    return nullptr;
  };
  // Per reported architecture: load the number, ENOSYS above the maximum, else the program.
  struct Section {
    uint32_t audit;
    int label;
  };
  std::vector<Section> sections;
  a.load(offsetof(seccomp_data, arch));
  for (const ArchProgram& arch : archs) {
    if (arch.x32 && find(AUDIT_ARCH_X86_64, false)) continue;  // shares x86_64's section
    sections.push_back({arch.auditArch, a.label()});
    a.branch(BPF_JEQ, arch.auditArch, sections.back().label, Asm::kNext);
  }
  a.jump(archs[0].label);
  auto checkAndEnter = [&](const ArchProgram& arch) {
    if (enosys && arch.max >= 0)
      a.branch(BPF_JGT, static_cast<uint32_t>(arch.max), enosysRet, Asm::kNext);
    a.jump(arch.label);
  };
  for (const Section& s : sections) {
    a.bind(s.label);
    a.load(offsetof(seccomp_data, nr));
    // s390: a syscall number the kernel does not know stays 0 (the multiplexer).
    if (enosys && (s.audit == AUDIT_ARCH_S390 || s.audit == AUDIT_ARCH_S390X))
      a.branch(BPF_JEQ, 0, enosysRet, Asm::kNext);
    ArchProgram* plain = find(s.audit, false);
    ArchProgram* x32 = s.audit == AUDIT_ARCH_X86_64 ? find(s.audit, true) : nullptr;
    if (plain && x32) {
      int x32Label = a.label();
      a.branch(BPF_JSET, kX32Bit, x32Label, Asm::kNext);
      checkAndEnter(*plain);
      a.bind(x32Label);
      checkAndEnter(*x32);
    } else if (s.audit == AUDIT_ARCH_X86_64) {
      // Only one of the two modes: the other one goes straight to its program, which kills it.
      ArchProgram& only = plain ? *plain : *x32;
      int enter = a.label();
      a.branch(BPF_JSET, kX32Bit, plain ? enter : Asm::kNext, plain ? Asm::kNext : enter);
      if (enosys && only.max >= 0)
        a.branch(BPF_JGT, static_cast<uint32_t>(only.max), enosysRet, Asm::kNext);
      a.bind(enter);
      a.jump(only.label);
    } else {
      checkAndEnter(*plain);
    }
  }
  a.bind(enosysRet);
  a.ret(SECCOMP_RET_ERRNO | ENOSYS);
  for (const ArchProgram& arch : archs) {
    a.bind(arch.label);
    a.append(code.data() + arch.offset, arch.length);
  }
  return a.finish();
}

// The kernel checks the flags before it reads the program: with a null program, EFAULT means
// it knows them all, EINVAL that it does not. Nothing is installed either way. Other errors
// (seccomp blocked by a filter around the runtime itself) say nothing; load() will tell.
bool kernelRefuses(unsigned flags) {
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, nullptr) < 0 && errno == EINVAL;
}

unsigned filterFlags(const Profile& prof) {
  const unsigned implied = (prof.notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0);
  if (!prof.flags)
    return kernelRefuses(implied | SECCOMP_FILTER_FLAG_SPEC_ALLOW)
               ? implied
               : implied | SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  unsigned flags = *prof.flags | implied;
  // The init is single-threaded, so TSYNC changes nothing; with it the kernel may return a
  // thread id on failure, which TSYNC_ESRCH turns into an error (and NEW_LISTENER requires).
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
  if (kernelRefuses(flags))
    for (const FlagInfo& f : kFlags)
      if ((flags & f.value) &&
          kernelRefuses(
              f.value | implied |
              (f.value == SECCOMP_FILTER_FLAG_TSYNC ? SECCOMP_FILTER_FLAG_TSYNC_ESRCH : 0)))
        fail("flags", fmt::format("{} is not supported by this kernel", f.name));
  return flags;
}

// Everything the program depends on, for the cache: the validated profile without its flags
// and listener (written out from prof rather than by dumping the JSON again; names carry
// their length, so no two profiles read the same), libseccomp, the architecture, and this
// code (the binary's build id: a changed code generator must not meet programs of the old
// one).
std::string identity(const Profile& prof) {
  const scmp_version* v = seccomp_version();
  std::string id = fmt::format(
      "sysvisor {} ({}) libseccomp {}.{}.{} native {:#x}\ndefault {:#x} archs", SV_VERSION,
      buildId(), v->major, v->minor, v->micro, seccomp_arch_native(), prof.defaultAction);
  auto out = std::back_inserter(id);
  for (uint32_t arch : prof.archs) fmt::format_to(out, " {:#x}", arch);
  for (const Rule& r : prof.rules) {
    fmt::format_to(out, "\nrule {:#x}{}", r.action, r.argsOr ? " or" : "");
    for (const scmp_arg_cmp& c : r.args)
      fmt::format_to(out, " arg{} op{} {:#x} {:#x}", c.arg, static_cast<int>(c.op), c.datum_a,
                     c.datum_b);
    for (const Json& n : *r.names) {  // appended without fmt: a profile has hundreds
      const std::string& name = n.get_ref<const std::string&>();
      const fmt::format_int length(name.size());
      id.append(" ").append(length.data(), length.size()).append(":").append(name);
    }
  }
  return id;
}

std::vector<sock_filter> build(const Profile& prof, const std::vector<Entry>& entries) {
  std::vector<ArchProgram> archs;
  auto addArch = [&](uint32_t token) {
    for (const ArchProgram& a : archs)
      if (a.token == token) return;
    const bool x32 = token == SCMP_ARCH_X32;
    // libseccomp's tokens are AUDIT_ARCH values, except x32's.
    archs.push_back({token, x32 ? AUDIT_ARCH_X86_64 : token, x32});
  };
  addArch(seccomp_arch_native());
  for (uint32_t token : prof.archs) addArch(token);

  const bool enosys = !prof.permissiveDefault && !prof.defaultErrnoIsEnosys;
  UniqueFd memfd(SV_SYSCALL(::memfd_create("seccomp-bpf", MFD_CLOEXEC), "for the seccomp program"));
  size_t total = 0;
  for (ArchProgram& arch : archs) {
    FilterCtx ctx = archFilter(prof, arch.token);
    addRules(ctx.get(), entries);
    if (enosys) arch.max = largestSyscall(prof, arch.token);
    arch.offset = total;
    exportTo(ctx.get(), memfd.get(), arch);
    total += arch.length;
  }
  std::vector<sock_filter> filter = link(archs, readBack(memfd.get(), total), enosys);
  if (filter.size() > BPF_MAXINSNS)
    throw UserError(
        fmt::format("config.json: \"linux.seccomp\" compiles to {} BPF instructions; "
                    "the kernel takes at most {}: shorten the profile",
                    filter.size(), BPF_MAXINSNS));
  return filter;
}

}  // namespace

Program compile(const std::string& seccompJson, int cacheDirFd) {
  if (seccompJson.empty()) return {};
  const Json doc = Json::parse(seccompJson, nullptr, false);
  return compileProfile(doc, cacheDirFd);
}

Program compileProfile(const Json& doc, int cacheDirFd) {
  Program out;
  if (doc.is_null()) return out;
  std::optional<Profile> parsed = parseProfile(doc);
  if (!parsed) return out;
  const Profile& prof = *parsed;

  const std::vector<Entry> entries = resolveRules(prof, out.skippedSyscalls);
  if (cacheDirFd < 0) {
    out.filter = build(prof, entries);
  } else {
    const std::string id = identity(prof);
    if (auto cached = cache::find(cacheDirFd, id)) {
      out.filter = std::move(*cached);
    } else {
      out.filter = build(prof, entries);
      cache::store(cacheDirFd, id, out.filter);
    }
  }
  out.flags = filterFlags(prof);
  out.notify = prof.notify;
  out.listenerPath = prof.listenerPath;
  out.listenerMetadata = prof.listenerMetadata;
  return out;
}

Features features() {
  Features f;
  for (const auto& a : kActions) f.actions.push_back(a.name);
  for (const auto& o : kOps) f.operators.push_back(o.name);
  for (const auto& a : kArchs)
    if (seccomp_arch_resolve_name(a.libseccompName) != 0) f.archs.push_back(a.name);
  for (const auto& fl : kFlags) {
    f.knownFlags.push_back(fl.name);
    unsigned probe = fl.value;
    if (fl.value == SECCOMP_FILTER_FLAG_TSYNC) probe |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    if (fl.value == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    if (!kernelRefuses(probe)) f.supportedFlags.push_back(fl.name);
  }
  const scmp_version* v = seccomp_version();
  f.libseccompVersion = fmt::format("{}.{}.{}", v->major, v->minor, v->micro);
  return f;
}

int load(const Program& p) noexcept {
  if (p.filter.empty()) return 0;
  sock_fprog prog{static_cast<unsigned short>(p.filter.size()),
                  const_cast<sock_filter*>(p.filter.data())};
  long r = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.flags, &prog);
  if (r < 0) return -errno;
  return p.notify ? static_cast<int>(r) : 0;
}

void sendListener(const Program& p, int listenerFd, const std::string& stateJson) {
  Json state = Json::parse(stateJson, nullptr, false);
  const Json* pid = state.is_object() ? member(state, "pid") : nullptr;
  if (!pid || !pid->is_number_integer())
    throw std::invalid_argument("seccomp: the container state for the agent has no pid");
  Json msg = {
      {"ociVersion", kProcessStateVersion}, {"fds", Json::array({"seccompFd"})}, {"pid", *pid}};
  if (!p.listenerMetadata.empty()) msg["metadata"] = p.listenerMetadata;
  msg["state"] = std::move(state);
  const std::string text = msg.dump();

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (p.listenerPath.empty() || p.listenerPath.size() >= sizeof addr.sun_path)
    throw std::invalid_argument("seccomp: no usable listenerPath");
  std::memcpy(addr.sun_path, p.listenerPath.data(), p.listenerPath.size());
  UniqueFd sock(
      SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "for the seccomp agent"));
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTSOCK)
      throw UserError(fmt::format(
          "no seccomp agent listens on \"{}\" (linux.seccomp.listenerPath): {}; start the agent "
          "before the container",
          p.listenerPath, std::strerror(err)));
    throwSysError(err, "connect", fmt::format("to the seccomp agent at '{}'", p.listenerPath));
  }

  // The fd goes with the first bytes; the rest, if the socket takes it in pieces, follows.
  size_t sent = SV_SYSCALL(sendWithFd(sock.get(), text.data(), text.size(), listenerFd),
                           "to the seccomp agent at '{}'", p.listenerPath);
  while (sent < text.size())
    sent += SV_SYSCALL(::send(sock.get(), text.data() + sent, text.size() - sent, MSG_NOSIGNAL),
                       "to the seccomp agent at '{}'", p.listenerPath);
}

}  // namespace sv::ns::seccomp
