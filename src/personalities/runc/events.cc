#include "personalities/runc/events.h"

#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <optional>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/oom.h"
#include "nsutil/cgroup/stats.h"

namespace sv::runc {

namespace {

void emit(int fd, const std::string& json) {
  writeAll(fd, json + "\n", "events output");
}

std::string oomEventJson(const std::string& id) {
  return fmt::format(R"({{"type":"oom","id":"{}"}})", log::jsonEscape(id));
}

// The memory cgroup's OOM notice, where the container has one.
std::optional<cg::OomWatch> watchOom(const std::vector<cg::CgroupDir>& dirs) {
  if (const cg::CgroupDir* m = cg::v1Dir(dirs, "memory")) return cg::OomWatch(m->path, false);
  for (const auto& d : dirs)
    if (d.v2 && ::access((d.path + "/memory.events").c_str(), F_OK) == 0)
      return cg::OomWatch(d.path, true);
  return std::nullopt;
}

UniqueFd intervalTimer(std::chrono::nanoseconds interval) {
  UniqueFd t(SV_SYSCALL(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), "timerfd"));
  struct itimerspec spec = {};
  auto ns = interval.count();
  spec.it_interval.tv_sec = static_cast<time_t>(ns / 1000000000);
  spec.it_interval.tv_nsec = static_cast<long>(ns % 1000000000);
  spec.it_value = spec.it_interval;
  SV_SYSCALL(::timerfd_settime(t.get(), 0, &spec, nullptr), "timerfd");
  return t;
}

}  // namespace

void containerEvents(const GlobalOptions& g, const EventsOptions& o, int outFd) {
  if (o.interval.count() <= 0) throw UserError("duration interval must be greater than 0");
  StateStore store(g.root);
  ContainerState s = loadExisting(store, o.id);
  if (store.status(s) == Status::kStopped)
    throw UserError(fmt::format("container with id {} is not running", o.id));
  std::vector<cg::CgroupDir> dirs = cgroupDirsOf(s);
  if (o.statsOnly) {
    emit(outFd, cg::statsEventJson(o.id, cg::readStats(dirs)));
    return;
  }
  UniqueFd init = openIfSame(s.pid, s.pidStartTime);
  if (!init)
    throw UserError(fmt::format("container with id {} is not running", o.id));
  std::optional<cg::OomWatch> oom = watchOom(dirs);
  UniqueFd timer = intervalTimer(o.interval);
  struct pollfd fds[3] = {
      {init.get(), POLLIN, 0}, {timer.get(), POLLIN, 0}, {oom ? oom->fd() : -1, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throwSysError(errno, "poll", "container events");
    }
    if (fds[2].revents & POLLIN && oom->takeOom()) emit(outFd, oomEventJson(o.id));
    if (fds[1].revents & POLLIN) {
      uint64_t expirations;
      [[maybe_unused]] auto n = ::read(timer.get(), &expirations, sizeof expirations);
      try {
        emit(outFd, cg::statsEventJson(o.id, cg::readStats(dirs)));
      } catch (const SysError& e) {
        log::error("container \"{}\": reading stats: {}", o.id, e.what());  // runc goes on too
      }
    }
    if (fds[0].revents & POLLIN) break;
  }
  // An OOM kill of the init itself may be noted just after it is gone.
  if (oom) {
    struct pollfd last = {oom->fd(), POLLIN, 0};
    if (::poll(&last, 1, 100) > 0 && oom->takeOom()) emit(outFd, oomEventJson(o.id));
  }
}

std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  struct Unit {
    std::string_view name;
    double ns;
  };
  static constexpr Unit kUnits[] = {{"ns", 1},   {"us", 1e3}, {"µs", 1e3}, {"μs", 1e3},
                                    {"ms", 1e6}, {"s", 1e9},  {"m", 60e9}, {"h", 3600e9}};
  if (text == "0") return std::chrono::nanoseconds(0);
  bool negative = !text.empty() && text[0] == '-';
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double total = 0;
  while (!text.empty()) {
    size_t digits = text.find_first_not_of("0123456789.");
    if (digits == 0 || digits == std::string_view::npos) return std::nullopt;
    // Digits by hand: std::from_chars for double pulls in libstdc++'s floating-point parser,
    // whose fesetround makes every start of the runtime map libm (~350 KiB of peak RSS).
    double value = 0, divisor = 1;
    bool dot = false, anyDigit = false;
    for (char c : text.substr(0, digits)) {
      if (c == '.') {
        if (dot) return std::nullopt;
        dot = true;
      } else {
        anyDigit = true;
        value = value * 10 + (c - '0');
        if (dot) divisor *= 10;
      }
    }
    if (!anyDigit) return std::nullopt;
    value /= divisor;
    text.remove_prefix(digits);
    const Unit* unit = nullptr;
    for (const auto& u : kUnits)  // longest match first: "ms" before "m"
      if (text.starts_with(u.name) && (!unit || u.name.size() > unit->name.size())) unit = &u;
    if (!unit) return std::nullopt;
    text.remove_prefix(unit->name.size());
    total += value * unit->ns;
  }
  if (total > 9.2e18) return std::nullopt;
  auto ns = std::chrono::nanoseconds(static_cast<int64_t>(total));
  return negative ? -ns : ns;
}

}  // namespace sv::runc
