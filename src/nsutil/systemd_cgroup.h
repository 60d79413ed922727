// The systemd cgroup driver (--systemd-cgroup): the container's cgroup is a transient scope
// unit that systemd creates and owns, asked for over D-Bus (base/dbus.h) as runc and crun do.
//
// How it fits cg::BirthPlace (the init is born in its cgroups, never moved there later):
// systemd only creates a scope around processes that exist, so the runtime asks for a scope
// holding *itself* (PIDs = [getpid()]) right before the clone, as `systemd-run --scope` and
// systemd-nspawn register themselves before they exec or fork. Once the job is done the
// runtime sits in the scope's cgroup in every hierarchy systemd manages; the other v1
// hierarchies get the same relative path through the cgroupfs code and BirthPlace; on v2 the
// init is cloned into the scope with CLONE_INTO_CGROUP. After the clone ReturnHome moves the
// runtime back to its own cgroups. The scope is never empty in between (first the runtime,
// then the init too), so systemd does not collect it; once the runtime leaves, the init
// keeps it alive, and it goes away when the container's last process exits.
// runc and crun instead start the scope with the init's pid after the clone and move it
// there; that needs an init that waits for the move, and whatever it allocated before the
// move stays charged to the runtime's cgroup. The price here: systemd moves the runtime in
// and the runtime moves itself out (on v2 that is one more cgroup.procs write).
//
// While the runtime is in the scope, stopping the unit would kill the runtime too: on every
// failure path ReturnHome must run before the unit is stopped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/dbus.h"
#include "nsutil/cgroup/cgroup.h"

namespace sv::cg::systemd {

// Where the runtime finds systemd.
inline constexpr const char* kBootedDir = "/run/systemd/system";       // as sd_booted(3) checks
inline constexpr const char* kPrivateSocket = "/run/systemd/private";  // root only, no bus
inline constexpr const char* kSystemBusSocket = "/run/dbus/system_bus_socket";

// The unit a cgroupsPath "slice:prefix:name" stands for, read as runc reads it.
struct Unit {
  std::string slice;          // the parent slice unit: "system.slice" when the slice is empty
  std::string name;           // "<prefix>-<name>.scope", or "<name>" if that ends in ".slice"
  std::string containerName;  // the name part, for the unit's Description
  std::string cgroupPath;     // below every hierarchy's root: "/system.slice/docker-1.scope"
  bool isSlice() const { return name.ends_with(".slice"); }
};
// An empty cgroupsPath is "system.slice:runc:<id>". Throws UserError for anything that is not
// three ':'-separated parts, or whose parts systemd would refuse in a unit name.
Unit parseCgroupsPath(std::string_view cgroupsPath, std::string_view id);
// "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice", "-.slice" -> "/". Throws UserError
// ("invalid slice name") like runc's ExpandSlice.
std::string expandSlice(std::string_view slice);

// Whether systemd is the init system (bootedDir is a directory).
bool booted(const char* bootedDir = kBootedDir);
// Throws a UserError saying what to do when systemd is not the init system.
void requireBooted(const char* bootedDir = kBootedDir);

// The properties runc gives a container's unit: Description, Slice + Delegate + PIDs [pid]
// for a scope (Wants=<slice> and no pid for a slice, which the init joins through cgroupfs),
// accounting on (IOAccounting on the unified hierarchy, BlockIOAccounting on v1/hybrid),
// DefaultDependencies off.
std::vector<dbus::Property> unitProperties(const Unit& unit, pid_t pid, bool unifiedOnly);
// StartTransientUnit(name, "replace", props, []).
dbus::Message startTransientUnitCall(const std::string& name,
                                     const std::vector<dbus::Property>& props);

struct Timeouts {
  std::chrono::milliseconds reply{30000};  // for each method reply
  std::chrono::milliseconds job{30000};    // for a job to finish (runc's 30 s)
};

// One connection to systemd's manager; each operation waits for its job to finish.
class Client {
 public:
  // Connects to systemd's private socket, else the system bus. Throws UserError naming both
  // when neither answers.
  static Client connect(Timeouts timeouts = {});
  // Over an established connection (tests use a socket of their own).
  explicit Client(dbus::Connection conn, Timeouts timeouts = {});

  // Starts the unit and waits until its job is "done". A unit of that name that exists is
  // reset (a leftover failed one goes away) and the start tried once more, as runc does; a
  // slice that exists is fine. On failure or timeout the unit is reset and UserError thrown.
  void startUnit(const std::string& name, const std::vector<dbus::Property>& props);
  // Stops the unit (systemd kills what is left in it) and waits for the job, then resets it
  // if it failed. Returns the job's result ("done" normally) or "" when there was no such
  // unit (a scope is collected by itself once its last process exits).
  std::string stopUnit(const std::string& name);
  // ResetFailedUnit(name); throws dbus::Error (e.g. NoSuchUnit).
  void resetFailed(const std::string& name);

 private:
  dbus::Clock::time_point replyDeadline() const;
  std::string job(const dbus::Message& reply) const;
  // The result of the job, from its JobRemoved signal.
  std::string waitJob(const std::string& job, std::string_view what);
  void resetQuietly(const std::string& name) noexcept;

  dbus::Connection conn_;
  Timeouts timeouts_;
};

// Moves the runtime back to its own cgroups (CgroupDir::origin in every hierarchy) when it
// goes out of scope: after startUnit put it in the scope and the init was cloned.
class ReturnHome {
 public:
  explicit ReturnHome(const std::vector<CgroupDir>& dirs) : dirs_(dirs) {}
  ~ReturnHome();  // never throws
  ReturnHome(const ReturnHome&) = delete;
  ReturnHome& operator=(const ReturnHome&) = delete;

 private:
  const std::vector<CgroupDir>& dirs_;
};

}  // namespace sv::cg::systemd
