// The /proc/sys rules table (fusefs/sysctl_table.h): which scope each knob has, how a write to a
// per-container knob is checked and normalised (the kernel's EINVAL cases), and when the host's
// limit is raised.
#include <cerrno>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "fusefs/sysctl_table.h"

using sv::fs::checkSysctlWrite;
using sv::fs::lookupSysctl;
using sv::fs::mustRaiseHost;
using sv::fs::SysctlRule;
using sv::fs::SysctlScope;
using sv::fs::SysctlType;
using sv::fs::SysctlWrite;

namespace {

SysctlScope scopeOf(std::string_view path) { return lookupSysctl(path).scope; }

// The stored value of a write to path, or "E<errno>".
std::string write(std::string_view path, std::string_view text, std::string_view current = {}) {
  SysctlWrite w = checkSysctlWrite(lookupSysctl(path), text, current);
  return w.error ? "E" + std::to_string(w.error) : w.value;
}
const std::string kEinval = "E" + std::to_string(EINVAL);
const std::string kEacces = "E" + std::to_string(EACCES);

}  // namespace

TEST_CASE("sysctl lookup: exact rule first, then the longest subtree", "[sysctl]") {
  // Exact rules under net/ beat the net/ subtree.
  CHECK(lookupSysctl("net/netfilter/nf_conntrack_max").path == "net/netfilter/nf_conntrack_max");
  CHECK(lookupSysctl("net/unix/max_dgram_qlen").scope == SysctlScope::kPushIfLarger);
  // Their siblings stay namespaced.
  CHECK(lookupSysctl("net/netfilter/nf_conntrack_count").path == "net/");
  CHECK(lookupSysctl("net/unix/other").scope == SysctlScope::kNamespaced);
  // The longest subtree wins: fs/mqueue/ over nothing, and a subtree's own directory matches.
  CHECK(lookupSysctl("fs/mqueue/msg_max").path == "fs/mqueue/");
  CHECK(lookupSysctl("fs/mqueue").path == "fs/mqueue/");
  CHECK(lookupSysctl("net").path == "net/");
  // Prefixes that are not path components do not match.
  CHECK(scopeOf("network/x") == SysctlScope::kDenied);
  CHECK(scopeOf("fs/mqueuex") == SysctlScope::kDenied);
  CHECK(scopeOf("kernel/panicx") == SysctlScope::kDenied);
  CHECK(scopeOf("kernel/pani") == SysctlScope::kDenied);
  // No rule: denied, with an empty path.
  CHECK(lookupSysctl("kernel/modules_disabled").scope == SysctlScope::kDenied);
  CHECK(lookupSysctl("kernel/modules_disabled").path.empty());
  CHECK(scopeOf("") == SysctlScope::kDenied);
}

TEST_CASE("sysctl table: every knob of the issue has its scope", "[sysctl]") {
  for (auto p : {"net/ipv4/ip_forward", "net/core/somaxconn", "net/ipv6/conf/all/forwarding",
                 "kernel/hostname", "kernel/domainname", "kernel/shmmax", "kernel/shmall",
                 "kernel/shmmni", "kernel/shm_rmid_forced", "kernel/msgmax", "kernel/msgmni",
                 "kernel/msgmnb", "kernel/sem", "fs/mqueue/queues_max", "fs/mqueue/msg_max",
                 "user/max_user_namespaces", "user/max_net_namespaces", "kernel/ns_last_pid"}) {
    INFO(p);
    CHECK(scopeOf(p) == SysctlScope::kNamespaced);
  }
  for (auto p : {"kernel/panic", "kernel/panic_on_oops", "kernel/printk", "kernel/sysrq",
                 "kernel/kptr_restrict", "kernel/dmesg_restrict", "kernel/pid_max",
                 "kernel/yama/ptrace_scope", "vm/overcommit_memory", "vm/mmap_min_addr",
                 "fs/protected_hardlinks", "fs/protected_symlinks", "fs/protected_fifos",
                 "fs/protected_regular"}) {
    INFO(p);
    CHECK(scopeOf(p) == SysctlScope::kLocal);
  }
  for (auto p : {"fs/file-max", "fs/nr_open", "net/netfilter/nf_conntrack_max",
                 "net/unix/max_dgram_qlen"}) {
    INFO(p);
    CHECK(scopeOf(p) == SysctlScope::kPushIfLarger);
  }
  CHECK(scopeOf("kernel/cap_last_cap") == SysctlScope::kHostReadOnly);
  CHECK(scopeOf("kernel/ngroups_max") == SysctlScope::kHostReadOnly);
  CHECK(scopeOf("kernel/random/uuid") == SysctlScope::kFresh);
  for (auto p : {"kernel/random/boot_id", "kernel/core_pattern", "vm/swappiness",
                 "fs/inotify/max_user_watches", "kernel/modprobe"}) {
    INFO(p);
    CHECK(scopeOf(p) == SysctlScope::kDenied);
  }
}

TEST_CASE("sysctl table: paths unique, per-container knobs all checked", "[sysctl]") {
  std::set<std::string_view> seen;
  for (const SysctlRule& r : sv::fs::sysctlRules()) {
    INFO(r.path);
    CHECK(seen.insert(r.path).second);
    CHECK(!r.path.starts_with('/'));
    bool stored = r.scope == SysctlScope::kLocal || r.scope == SysctlScope::kPushIfLarger;
    CHECK((r.value.type != SysctlType::kNone) == stored);
    // Subtrees are only for namespaced parts of /proc/sys.
    if (r.path.ends_with('/')) CHECK(r.scope == SysctlScope::kNamespaced);
  }
}

TEST_CASE("sysctl write: the kernel's ranges", "[sysctl]") {
  struct Case {
    const char* path;
    const char* lowOk;
    const char* highOk;
    const char* below;  // nullptr: no lower bound but the C type's
    const char* above;
  };
  const Case cases[] = {
      {"kernel/kptr_restrict", "0", "2", "-1", "3"},
      {"kernel/dmesg_restrict", "0", "1", "-1", "2"},
      {"kernel/pid_max", "301", "4194304", "300", "4194305"},
      {"kernel/yama/ptrace_scope", "0", "3", "-1", "4"},
      {"vm/overcommit_memory", "0", "2", "-1", "3"},
      {"vm/mmap_min_addr", "0", "18446744073709551615", "-1", "18446744073709551616"},
      {"fs/protected_hardlinks", "0", "1", "-1", "2"},
      {"fs/protected_symlinks", "0", "1", "-1", "2"},
      {"fs/protected_fifos", "0", "2", "-1", "3"},
      {"fs/protected_regular", "0", "2", "-1", "3"},
      {"kernel/panic", "-2147483648", "2147483647", "-2147483649", "2147483648"},
      {"kernel/panic_on_oops", "-2147483648", "2147483647", "-2147483649", "2147483648"},
      {"kernel/sysrq", "-2147483648", "2147483647", "-2147483649", "2147483648"},
      {"fs/file-max", "0", "9223372036854775807", "-1", "9223372036854775808"},
      {"fs/nr_open", "64", "2147483584", "63", "2147483585"},
      {"net/netfilter/nf_conntrack_max", "0", "2147483647", "-1", "2147483648"},
      {"net/unix/max_dgram_qlen", "-2147483648", "2147483647", "-2147483649", "2147483648"},
  };
  for (const Case& c : cases) {
    INFO(c.path);
    CHECK(write(c.path, c.lowOk) == std::string(c.lowOk) + "\n");
    CHECK(write(c.path, c.highOk) == std::string(c.highOk) + "\n");
    CHECK(write(c.path, c.below) == kEinval);
    CHECK(write(c.path, c.above) == kEinval);
  }
  // Values the kernel accepts though they look odd: sysrq is a bitmask stored as written, and
  // panic_on_oops is a plain int.
  CHECK(write("kernel/sysrq", "1000") == "1000\n");
  CHECK(write("kernel/panic_on_oops", "2") == "2\n");
  CHECK(write("kernel/panic", "-1") == "-1\n");
  CHECK(write("kernel/pid_max", "32768") == "32768\n");
}

TEST_CASE("sysctl write: malformed text is EINVAL like the kernel", "[sysctl]") {
  for (auto bad : {"", " ", "\n", "  \t\n", "abc", "5abc", "5.0", "5,", "+5", "- 5", "--5",
                   "5\r", "0x", "08", "1e3", "99999999999999999999999"}) {
    INFO('"' << bad << '"');
    CHECK(write("kernel/panic", bad) == kEinval);
  }
  CHECK(write("kernel/kptr_restrict", "x1") == kEinval);
  CHECK(write("vm/mmap_min_addr", "-0") == kEinval);  // unsigned long: any '-' is rejected
  CHECK(write("kernel/panic", "-0") == "0\n");
  // printk: each of up to 4 ints must parse; the ones written are checked.
  CHECK(write("kernel/printk", "4 4 1 x") == kEinval);
  CHECK(write("kernel/printk", "4 4x 1 7") == kEinval);
  CHECK(write("kernel/printk", "4 4 1 7") == "4\t4\t1\t7\n");
  // A bad value among several rejects the whole write.
  CHECK(write("kernel/pid_max", "4194305 301") == kEinval);
}

TEST_CASE("sysctl write: normalised to what the kernel prints", "[sysctl]") {
  CHECK(write("kernel/panic", "5\n") == "5\n");
  CHECK(write("kernel/panic", "  5 ") == "5\n");
  CHECK(write("kernel/panic", "\t5\t\n") == "5\n");
  CHECK(write("kernel/panic", "0005") == "5\n");  // octal 5
  // strtoul base 0, as the kernel parses.
  CHECK(write("kernel/panic", "0x1f") == "31\n");
  CHECK(write("kernel/panic", "010") == "8\n");
  CHECK(write("kernel/panic", "-0x10") == "-16\n");
  // The kernel stops after the knob's last value and drops the rest of the write.
  CHECK(write("kernel/panic", "5 6") == "5\n");
  CHECK(write("kernel/panic", "5 junk") == "5\n");
  // printk: tab-separated like the kernel prints it, any whitespace between values.
  CHECK(write("kernel/printk", "4 4 1 7") == "4\t4\t1\t7\n");
  CHECK(write("kernel/printk", " 4\t4  1\n7\n") == "4\t4\t1\t7\n");
  CHECK(write("kernel/printk", "4 4 1 7 9") == "4\t4\t1\t7\n");
}

TEST_CASE("sysctl write: a shorter write keeps the current tail", "[sysctl]") {
  // echo 3 > /proc/sys/kernel/printk changes the console loglevel only.
  CHECK(write("kernel/printk", "3", "4\t4\t1\t7\n") == "3\t4\t1\t7\n");
  CHECK(write("kernel/printk", "3 5\n", "4\t4\t1\t7\n") == "3\t5\t1\t7\n");
  // Without a usable current value there is nothing to keep.
  CHECK(write("kernel/printk", "3") == kEinval);
  CHECK(write("kernel/printk", "3", "4 4") == kEinval);
}

TEST_CASE("sysctl write: yama ptrace_scope 3 is sticky", "[sysctl]") {
  CHECK(write("kernel/yama/ptrace_scope", "1", "3\n") == kEinval);
  CHECK(write("kernel/yama/ptrace_scope", "0", "3\n") == kEinval);
  CHECK(write("kernel/yama/ptrace_scope", "3", "3\n") == "3\n");
  CHECK(write("kernel/yama/ptrace_scope", "1", "2\n") == "1\n");
  CHECK(write("kernel/yama/ptrace_scope", "3", "1\n") == "3\n");
}

TEST_CASE("sysctl write: EACCES where the container may not write", "[sysctl]") {
  for (auto p : {"kernel/cap_last_cap", "kernel/ngroups_max", "kernel/random/uuid",
                 "kernel/modules_disabled", "vm/swappiness", "kernel/random/boot_id"}) {
    INFO(p);
    SysctlWrite w = checkSysctlWrite(lookupSysctl(p), "1\n");
    CHECK(w.error == EACCES);
    CHECK(w.value.empty());
  }
  // Even a malformed write is EACCES there: the scope is decided first.
  CHECK(write("kernel/cap_last_cap", "junk") == kEacces);
}

TEST_CASE("sysctl write: namespaced knobs pass through to their kernel", "[sysctl]") {
  SysctlWrite w = checkSysctlWrite(lookupSysctl("net/ipv4/ip_forward"), "1\n");
  CHECK(w.error == 0);
  CHECK(w.value == "1\n");
  // Unchecked here: the kernel in the container's namespaces judges.
  CHECK(write("kernel/hostname", "box one") == "box one");
  CHECK(write("kernel/sem", "250  32000\t32 128") == "250  32000\t32 128");
}

TEST_CASE("sysctl write: text knobs like proc_dostring", "[sysctl]") {
  SysctlRule rule{"kernel/text", SysctlScope::kLocal, {.type = SysctlType::kText, .max = 8}};
  CHECK(checkSysctlWrite(rule, "abc\n").value == "abc\n");
  CHECK(checkSysctlWrite(rule, " a b\nrest").value == " a b\n");
  CHECK(checkSysctlWrite(rule, "0123456789").value == "0123456\n");  // maxlen - 1 bytes
  CHECK(checkSysctlWrite(rule, "").value == "\n");
  CHECK(checkSysctlWrite(rule, "x").error == 0);
  // Without a type a per-container rule stores nothing.
  SysctlRule unchecked{"kernel/x", SysctlScope::kLocal};
  CHECK(checkSysctlWrite(unchecked, "1").error == EACCES);
}

TEST_CASE("sysctl mustRaiseHost: raise only when larger, never lower", "[sysctl]") {
  CHECK(mustRaiseHost("262144\n", "524288\n"));
  CHECK_FALSE(mustRaiseHost("524288\n", "262144\n"));
  CHECK_FALSE(mustRaiseHost("262144\n", "262144\n"));
  CHECK_FALSE(mustRaiseHost("262144\n", "  262144 "));
  // The host's file-max is often LONG_MAX; compare without overflow.
  CHECK_FALSE(mustRaiseHost("9223372036854775807\n", "1048576\n"));
  CHECK(mustRaiseHost("9223372036854775806\n", "9223372036854775807\n"));
  CHECK(mustRaiseHost("1000", "18446744073709551615"));
  // Signs.
  CHECK(mustRaiseHost("-5", "3"));
  CHECK(mustRaiseHost("-5", "-3"));
  CHECK_FALSE(mustRaiseHost("-3", "-5"));
  CHECK_FALSE(mustRaiseHost("3", "-5"));
  CHECK_FALSE(mustRaiseHost("-0", "0"));
  // Malformed host text (or ours) leaves the host alone.
  for (auto bad : {"", "\n", "abc", "12abc", "12 abc", "1.5"}) {
    INFO('"' << bad << '"');
    CHECK_FALSE(mustRaiseHost(bad, "100\n"));
    CHECK_FALSE(mustRaiseHost("1\n", bad));
  }
  // Several values: only when none would go down and one goes up.
  CHECK(mustRaiseHost("1\t2\t3\n", "1\t5\t3\n"));
  CHECK_FALSE(mustRaiseHost("1\t2\t3\n", "1\t2\t3\n"));
  CHECK_FALSE(mustRaiseHost("1\t2\t3\n", "0\t5\t3\n"));
  CHECK_FALSE(mustRaiseHost("1\t2\t3\n", "5\t5\n"));
}
