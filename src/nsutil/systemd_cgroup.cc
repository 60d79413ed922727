#include "nsutil/systemd_cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sv::cg::systemd {

namespace {

constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr std::string_view kUnitExists = "org.freedesktop.systemd1.UnitExists";
constexpr std::string_view kNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit";

// The characters systemd allows in a unit name (unit_name_is_valid), so that what we send
// is a name systemd takes and a safe path component.
void checkUnitName(std::string_view name, std::string_view what, std::string_view cgroupsPath) {
  bool ok = !name.empty() && name.size() < 256;
  for (char c : name)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@');
  if (!ok)
    throw UserError(
        fmt::format("cgroupsPath \"{}\": {} \"{}\" is not a valid systemd unit name "
                    "(letters, digits and :-_.\\@ only)",
                    cgroupsPath, what, name));
}

dbus::Message managerCall(const char* member, const char* signature, std::string body) {
  return dbus::methodCall(kService, kManagerPath, kManager, member, signature, std::move(body));
}

std::string strings(std::initializer_list<std::string_view> values) {
  dbus::Writer w;
  for (auto v : values) w.string(v);
  return w.take();
}

bool timedOut(const SysError& e) {
  return e.err() == ETIMEDOUT;
}

}  // namespace

std::string expandSlice(std::string_view slice) {
  constexpr std::string_view kSuffix = ".slice";
  auto invalid = [&] { return UserError(fmt::format("invalid slice name: {}", slice)); };
  if (slice.size() <= kSuffix.size() || !slice.ends_with(kSuffix) ||
      slice.find('/') != std::string_view::npos)
    throw invalid();
  std::string_view base = slice.substr(0, slice.size() - kSuffix.size());
  if (base == "-") return "/";
  std::string path, prefix;
  for (;;) {
    auto dash = base.find('-');
    std::string_view part = base.substr(0, dash);
    // "a--b.slice" and "-a.slice" are not slices.
    if (part.empty()) throw invalid();
    path += fmt::format("/{}{}{}", prefix, part, kSuffix);
    if (dash == std::string_view::npos) break;
    prefix += fmt::format("{}-", part);
    base.remove_prefix(dash + 1);
  }
  return path;
}

Unit parseCgroupsPath(std::string_view cgroupsPath, std::string_view id) {
  std::string_view parts[3] = {"", "runc", id};  // runc's default for an empty cgroupsPath
  if (!cgroupsPath.empty()) {
    auto a = cgroupsPath.find(':');
    auto b = a == std::string_view::npos ? a : cgroupsPath.find(':', a + 1);
    if (b == std::string_view::npos || cgroupsPath.find(':', b + 1) != std::string_view::npos)
      throw UserError(
          fmt::format("cgroupsPath \"{}\" is not of the form slice:prefix:name, which "
                      "--systemd-cgroup expects (e.g. \"system.slice:docker:1234\")",
                      cgroupsPath));
    parts[0] = cgroupsPath.substr(0, a);
    parts[1] = cgroupsPath.substr(a + 1, b - a - 1);
    parts[2] = cgroupsPath.substr(b + 1);
  }
  Unit u;
  u.slice = parts[0].empty() ? "system.slice" : std::string(parts[0]);
  u.containerName = std::string(parts[2]);
  // As runc: "<prefix>-<name>.scope" even for an empty prefix (crun agrees).
  u.name = u.containerName.ends_with(".slice")
               ? u.containerName
               : fmt::format("{}-{}.scope", parts[1], u.containerName);
  checkUnitName(u.slice, "slice", cgroupsPath);
  checkUnitName(u.containerName, "name", cgroupsPath);
  checkUnitName(u.name, "unit", cgroupsPath);
  // A slice's place follows from its name alone (Wants= does not move it); a scope sits in
  // its Slice=.
  if (u.isSlice()) {
    u.cgroupPath = expandSlice(u.name);
  } else {
    std::string parent = expandSlice(u.slice);
    u.cgroupPath = (parent == "/" ? "" : parent) + "/" + u.name;
  }
  return u;
}

bool booted(const char* bootedDir) {
  struct stat st;
  return ::lstat(bootedDir, &st) == 0 && S_ISDIR(st.st_mode);
}

void requireBooted(const char* bootedDir) {
  if (booted(bootedDir)) return;
  throw UserError(fmt::format(
      "--systemd-cgroup needs systemd as the init system, but '{}' does not exist (pid 1 is not "
      "systemd): drop --systemd-cgroup to use the cgroupfs driver (cgroupsPath is then a path, "
      "not slice:prefix:name), or run the runtime on a host booted with systemd",
      bootedDir));
}

std::vector<dbus::Property> unitProperties(const Unit& unit, pid_t pid, bool unifiedOnly) {
  std::vector<dbus::Property> p;
  p.push_back({"Description", "libcontainer container " + unit.containerName});
  if (unit.isSlice()) {
    p.push_back({"Wants", std::vector<std::string>{unit.slice}});
  } else {
    p.push_back({"Slice", unit.slice});
    // The container manages the cgroups below its own (systemd >= 218).
    p.push_back({"Delegate", true});
    p.push_back({"PIDs", std::vector<uint32_t>{static_cast<uint32_t>(pid)}});
  }
  // Accounting on, so the controllers are there for the knob writes and stats (and the
  // kernel does not like joining memory later).
  for (const char* name : {"MemoryAccounting", "CPUAccounting",
                           unifiedOnly ? "IOAccounting" : "BlockIOAccounting", "TasksAccounting"})
    p.push_back({name, true});
  p.push_back({"DefaultDependencies", false});
  return p;
}

dbus::Message startTransientUnitCall(const std::string& name,
                                     const std::vector<dbus::Property>& props) {
  dbus::Writer w;
  w.string(name);
  w.string("replace");
  w.properties(props);
  w.endArray(w.beginArray(8));  // no auxiliary units: a(sa(sv)) empty
  return managerCall("StartTransientUnit", "ssa(sv)a(sa(sv))", w.take());
}

// --- Client ---

Client Client::connect(Timeouts timeouts) {
  std::string privateError;
  try {
    return Client(dbus::Connection(kPrivateSocket, false, timeouts.reply), timeouts);
  } catch (const SysError& e) {
    privateError = e.what();
  }
  try {
    return Client(dbus::Connection(kSystemBusSocket, true, timeouts.reply), timeouts);
  } catch (const SysError& e) {
    throw UserError(
        fmt::format("cannot reach systemd for --systemd-cgroup: {}; {}", privateError, e.what()));
  }
}

Client::Client(dbus::Connection conn, Timeouts timeouts)
    : conn_(std::move(conn)), timeouts_(timeouts) {
  conn_.keepSignals(kManager, "JobRemoved");
  // A bus delivers systemd's broadcast signals only to those who asked. (systemd's private
  // socket gets them all unasked.) The reply is not awaited: an error surfaces on the next call.
  if (conn_.busDaemon())
    conn_.send(dbus::methodCall(
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
        strings({"type='signal',sender='org.freedesktop.systemd1',path='/org/freedesktop/"
                 "systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"})));
}

dbus::Clock::time_point Client::replyDeadline() const {
  return dbus::Clock::now() + timeouts_.reply;
}

std::string Client::job(const dbus::Message& reply) const {
  if (reply.signature != "o")
    throw SysError(EBADMSG, fmt::format("systemd answered {} with \"{}\" instead of a job path",
                                        reply.member, reply.signature));
  return reply.reader().string();
}

std::string Client::waitJob(const std::string& job, std::string_view what) {
  // Only a broadcast from the manager counts: a bus delivers broadcasts from systemd only
  // (our match names it as the sender), but anyone may send a signal addressed to us.
  auto ours = [&](const dbus::Message& m) {
    if (m.path != kManagerPath || !m.destination.empty() || m.signature != "uoss") return false;
    dbus::Reader r = m.reader();
    r.u32();
    return r.string() == job;
  };
  dbus::Message m = conn_.waitSignal(ours, dbus::Clock::now() + timeouts_.job,
                                     fmt::format("systemd to {}", what));
  dbus::Reader r = m.reader();
  r.u32();
  r.string();
  r.string();
  return r.string();
}

void Client::resetFailed(const std::string& name) {
  conn_.call(managerCall("ResetFailedUnit", "s", strings({name})), replyDeadline());
}

void Client::resetQuietly(const std::string& name) noexcept {
  try {
    resetFailed(name);
  } catch (...) {
  }
}

void Client::startUnit(const std::string& name, const std::vector<dbus::Property>& props) {
  const dbus::Message call = startTransientUnitCall(name, props);
  std::string path;
  for (int attempt = 0; path.empty(); ++attempt) {
    try {
      path = job(conn_.call(call, replyDeadline()));
    } catch (const dbus::Error& e) {
      if (e.name() != kUnitExists)
        throw UserError(fmt::format("systemd refused to create unit \"{}\": {}", name, e.what()));
      // A slice that exists is one to join (as runc lets kubelet's slices be).
      if (name.ends_with(".slice")) return;
      // Perhaps a leftover failed unit: reset it so systemd drops it, and try once more.
      if (attempt == 1)
        throw UserError(
            fmt::format("systemd unit \"{}\" already exists: another container uses "
                        "the same cgroupsPath; delete it or choose another name",
                        name));
      resetQuietly(name);
    }
  }
  std::string result;
  try {
    result = waitJob(path, fmt::format("create unit \"{}\"", name));
  } catch (const SysError& e) {
    if (!timedOut(e)) throw;
    resetQuietly(name);
    throw UserError(fmt::format("timed out after {} s waiting for systemd to create unit \"{}\"",
                                timeouts_.job.count() / 1000.0, name));
  }
  if (result != "done") {
    resetQuietly(name);
    throw UserError(
        fmt::format("systemd could not create unit \"{}\": its job ended \"{}\" "
                    "(see `journalctl -u {}`)",
                    name, result, name));
  }
}

std::string Client::stopUnit(const std::string& name) {
  std::string path;
  try {
    path =
        job(conn_.call(managerCall("StopUnit", "ss", strings({name, "replace"})), replyDeadline()));
  } catch (const dbus::Error& e) {
    if (e.name() == kNoSuchUnit) return "";
    throw UserError(fmt::format("systemd refused to stop unit \"{}\": {}", name, e.what()));
  }
  std::string result;
  try {
    result = waitJob(path, fmt::format("stop unit \"{}\"", name));
  } catch (const SysError& e) {
    if (!timedOut(e)) throw;
    throw UserError(fmt::format("timed out after {} s waiting for systemd to stop unit \"{}\"",
                                timeouts_.job.count() / 1000.0, name));
  }
  // A unit that failed stays listed until reset.
  resetQuietly(name);
  return result;
}

// --- ReturnHome ---

ReturnHome::~ReturnHome() {
  // "0" is the writer itself. The runtime is single-threaded here, so moving its one thread
  // through v1's "tasks" moves the process, without cgroup.procs' threadgroup lock.
  for (const auto& d : dirs_) {
    std::string file = d.origin + (d.v2 ? "/cgroup.procs" : "/tasks");
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    [[maybe_unused]] auto n = ::write(fd, "0", 1);
    ::close(fd);
  }
}

}  // namespace sv::cg::systemd
