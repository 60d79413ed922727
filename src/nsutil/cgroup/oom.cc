#include "nsutil/cgroup/oom.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <fmt/format.h>

#include <sstream>

#include "base/file_util.h"
#include "base/sys_error.h"

namespace sv::cg {

uint64_t oomKillCount(const std::string& memoryEvents) {
  std::istringstream in(memoryEvents);
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return 0;
}

OomWatch::OomWatch(const std::string& dir, bool v2) : dir_(dir), v2_(v2) {
  if (v2) {
    fd_ = UniqueFd(SV_SYSCALL(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK), "inotify"));
    std::string events = dir + "/memory.events";
    SV_SYSCALL(::inotify_add_watch(fd_.get(), events.c_str(), IN_MODIFY), "'{}'", events);
    oomKills_ = oomKillCount(readFile(events));
    return;
  }
  fd_ = UniqueFd(SV_SYSCALL(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"));
  std::string control = dir + "/memory.oom_control";
  target_ = UniqueFd(SV_SYSCALL(::open(control.c_str(), O_RDONLY | O_CLOEXEC), "'{}'", control));
  writeFileAt(AT_FDCWD, dir + "/cgroup.event_control",
              fmt::format("{} {}", fd_.get(), target_.get()));
}

bool OomWatch::takeOom() {
  if (v2_) {
    char buf[4096];
    while (::read(fd_.get(), buf, sizeof buf) > 0) {
    }
    auto text = readFileIfExists(dir_ + "/memory.events");
    if (!text) return false;
    uint64_t kills = oomKillCount(*text);
    bool more = kills > oomKills_;
    oomKills_ = kills;
    return more;
  }
  uint64_t count = 0;
  if (::read(fd_.get(), &count, sizeof count) != sizeof count || count == 0) return false;
  // The kernel also signals the eventfd when it removes the cgroup.
  return ::access((dir_ + "/cgroup.event_control").c_str(), F_OK) == 0;
}

}  // namespace sv::cg
