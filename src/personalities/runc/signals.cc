// Signal names as `runc kill` takes them. runc upper-cases the text and adds a missing "SIG"
// prefix, so "kill", "KILL", "sigkill" and "SIGKILL" all work. Unlike runc we refuse numbers
// outside 1..64 (0 would only probe, the kernel rejects the rest) and also take the real-time
// forms RTMIN, RTMIN+n, RTMAX and RTMAX-n that kill(1) knows.
#include "personalities/runc/signals.h"

#include <csignal>
#include <cstddef>
#include <string>

namespace sv::runc {
namespace {

struct NamedSignal {
  std::string_view name;  // without "SIG"
  int number;
};

constexpr NamedSignal kSignals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},   {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

// The kernel's range; glibc keeps 32 and 33 for itself, so to every program in a container
// SIGRTMIN is 34 (what kill -l prints).
constexpr int kRtMin = 34;
constexpr int kRtMax = 64;

// A decimal number without sign, or nullopt (also for absurd lengths).
std::optional<int> parseNumber(std::string_view text) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

// "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n", staying inside [kRtMin, kRtMax].
std::optional<int> parseRealtime(std::string_view name) {
  struct Base {
    std::string_view name;
    int number;
    int direction;
    char sign;
  };
  constexpr Base kBases[] = {{"RTMIN", kRtMin, +1, '+'}, {"RTMAX", kRtMax, -1, '-'}};
  for (const Base& b : kBases) {
    if (!name.starts_with(b.name)) continue;
    std::string_view rest = name.substr(b.name.size());
    if (rest.empty()) return b.number;
    if (rest.front() != b.sign) return std::nullopt;
    const auto n = parseNumber(rest.substr(1));
    if (!n || *n > kRtMax - kRtMin) return std::nullopt;
    return b.number + b.direction * *n;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> parseSignal(std::string_view text) {
  if (const auto n = parseNumber(text)) {
    if (*n >= 1 && *n <= kRtMax) return n;
    return std::nullopt;
  }
  std::string name(text);
  for (char& c : name) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  std::string_view bare = name;
  if (bare.starts_with("SIG")) bare.remove_prefix(3);
  for (const auto& s : kSignals) {
    if (s.name == bare) return s.number;
  }
  return parseRealtime(bare);
}

}  // namespace sv::runc
