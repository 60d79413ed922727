// `sysvisor mgr status`: the daemon's table as text or JSON.
#include <unistd.h>

#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "ipc/mgr_client.h"
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

std::string asJson(const ipc::MgrStatus& st) {
  nlohmann::json j;
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

std::string asTable(const ipc::MgrStatus& st) {
  std::string out = fmt::format(
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

int printStatus(const std::string& socket, bool json) {
  ipc::MgrClient client(socket);
  ipc::MgrStatus st = client.status();
  std::string text = json ? asJson(st) : asTable(st);
  writeAll(STDOUT_FILENO, text, "standard output");
  return 0;
}

}  // namespace sv::mgr
