// `sysvisor mgr status`: the daemon's table as text or JSON.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "ipc/fs_client.h"
#include "ipc/mgr_client.h"
#include "ipc/rpc.h"
#include "personalities/mgr/mgr.h"

namespace sv::mgr {

namespace {

std::string utc(int64_t secs) {
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string span(uint32_t base, uint64_t size) {
  return fmt::format("{}-{}", base, base + size - 1);
}

// sysvisor-fs as status shows it: its own status call, or why there is none.
struct FsHealth {
  bool running = false;
  ipc::FsStatus status;
  std::string error;
};

FsHealth fsHealth(const std::string& socket) {
  FsHealth h;
  try {
    h.status = ipc::FsClient(socket).status();
    h.running = true;
  } catch (const std::exception& e) {
    h.error = e.what();
  }
  return h;
}

std::string uptime(int64_t started) {
  int64_t s = std::max<int64_t>(0, static_cast<int64_t>(::time(nullptr)) - started);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
  return fmt::format("{}d{:02}h", s / 86400, s / 3600 % 24);
}

nlohmann::json daemonJson(const ipc::DaemonInfo& d) {
  return {{"running", true}, {"version", d.version}, {"pid", d.pid}, {"started", utc(d.started)}};
}

std::string asJson(const ipc::MgrStatus& st, const FsHealth& fs) {
  nlohmann::json j;
  j["mgr"] = daemonJson(st.daemon);
  if (fs.running) {
    j["fs"] = daemonJson(fs.status.daemon);
    j["fs"]["mountpoint"] = fs.status.mountpoint;
    j["fs"]["containers"] = fs.status.containers.size();
  } else {
    j["fs"] = {{"running", false}, {"error", fs.error}};
  }
  j["pool"] = {{"uidStart", st.pool.uidStart}, {"gidStart", st.pool.gidStart},
               {"size", st.pool.size},         {"policy", st.pool.policy},
               {"blocks", st.pool.blocks},     {"blocksInUse", st.pool.blocksInUse}};
  j["containers"] = nlohmann::json::array();
  for (const auto& c : st.containers)
    j["containers"].push_back({{"id", c.id},
                               {"uidBase", c.range.uidBase},
                               {"gidBase", c.range.gidBase},
                               {"size", c.range.size},
                               {"state", c.running ? "running" : "stopped"},
                               {"since", utc(c.since)},
                               {"rootfs", c.rootfs},
                               {"shared", c.shared}});
  return j.dump(2) + "\n";
}

// "sysvisor-mgr 0.1.0: running, pid 12, up 3h05m" (a daemon older than this status call
// reports no version).
std::string healthLine(const char* name, const ipc::DaemonInfo& d) {
  if (d.version.empty()) return fmt::format("{}: running (an older version: restart it)", name);
  return fmt::format("{} {}: running, pid {}, up {}", name, d.version, d.pid, uptime(d.started));
}

std::string asTable(const ipc::MgrStatus& st, const FsHealth& fs, const std::string& socket) {
  std::string out = fmt::format("{} ({})\n", healthLine("sysvisor-mgr", st.daemon), socket);
  if (fs.running) {
    const size_t n = fs.status.containers.size();
    out += fmt::format("{}, {} container{} at {}\n", healthLine("sysvisor-fs", fs.status.daemon),
                       n, n == 1 ? "" : "s", fs.status.mountpoint);
  } else {
    out += fmt::format("sysvisor-fs: NOT RUNNING: {}\n", fs.error);
  }
  out += fmt::format(
      "pool: uids {}, gids {}; {} of {} blocks of 65536 in use; policy {}\n\n",
      span(st.pool.uidStart, st.pool.size), span(st.pool.gidStart, st.pool.size),
      st.pool.blocksInUse, st.pool.blocks, st.pool.policy);
  size_t w = 9;
  for (const auto& c : st.containers) w = std::max(w, c.id.size());
  out += fmt::format("{:<{}}  {:<23}  {:<8}  {}\n", "CONTAINER", w, "ID RANGE", "STATE", "SINCE");
  for (const auto& c : st.containers) {
    std::string range = span(c.range.uidBase, c.range.size);
    if (c.range.gidBase != c.range.uidBase) range += " (gid " + span(c.range.gidBase, c.range.size) + ")";
    std::string state = c.running ? "running" : "stopped";
    if (c.shared) state += ",shared";
    out += fmt::format("{:<{}}  {:<23}  {:<8}  {}\n", c.id, w, range, state, utc(c.since));
  }
  return out;
}

}  // namespace

int printStatus(const std::string& socket, const std::string& fsSocket, bool json) {
  ipc::MgrClient client(socket);
  ipc::MgrStatus st = client.status();
  FsHealth fs = fsHealth(fsSocket);
  std::string text = json ? asJson(st, fs) : asTable(st, fs, socket);
  writeAll(STDOUT_FILENO, text, "standard output");
  return 0;
}

}  // namespace sv::mgr
