#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"resources", "r", FlagKind::kString, "path to the file containing the resources to update or '-' to read from the standard input"},
    {"cpu-period", "", FlagKind::kString, "CPU CFS period to be used for hardcapping (in usecs)"},
    {"cpu-quota", "", FlagKind::kString, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"},
    {"cpu-share", "", FlagKind::kString, "CPU shares (relative weight vs. other containers)"},
    {"cpuset-cpus", "", FlagKind::kString, "CPU(s) to use"},
    {"cpuset-mems", "", FlagKind::kString, "Memory node(s) to use"},
    {"memory", "", FlagKind::kString, "Memory limit (in bytes, or with k/m/g)"},
    {"memory-reservation", "", FlagKind::kString, "Memory reservation or soft_limit (in bytes)"},
    {"memory-swap", "", FlagKind::kString, "Total memory usage (memory + swap); set '-1' to enable unlimited swap"},
    {"pids-limit", "", FlagKind::kString, "Maximum number of pids allowed in the container"},
};

// "64m", "1g", "1048576", "-1" -> bytes
int64_t parseBytes(const std::string& flag, const std::string& v) {
  if (v == "-1") return -1;
  size_t used = 0;
  long double n = 0;
  try {
    n = std::stold(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = v.substr(used);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  long double mult = unit.empty() ? 1 : unit == "k" ? 1024.0L : unit == "m" ? 1048576.0L
                                     : unit == "g" ? 1073741824.0L : 0;
  if (used == 0 || mult == 0 || n < 0)
    throw UserError(fmt::format("invalid value \"{}\" for --{}: use bytes or k/m/g", v, flag));
  return static_cast<int64_t>(n * mult);
}

int64_t parseInt(const std::string& flag, const std::string& v) {
  try {
    size_t used = 0;
    int64_t n = std::stoll(v, &used);
    if (used == v.size()) return n;
  } catch (const std::exception&) {
  }
  throw UserError(fmt::format("invalid value \"{}\" for --{}: not an integer", v, flag));
}

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "update");
  nlohmann::json r = nlohmann::json::object();
  if (f.has("resources")) {
    std::string path = f.str("resources");
    std::string text = path == "-" ? readFileAt(STDIN_FILENO, "/proc/self/fd/0") : readFile(path);
    r = nlohmann::json::parse(text, nullptr, false);
    if (!r.is_object())
      throw UserError(fmt::format("--resources {}: not a JSON object of linux.resources", path));
  }
  struct Knob {
    const char* flag;
    const char* group;
    const char* key;
    bool bytes;
  };
  static constexpr Knob kKnobs[] = {
      {"cpu-period", "cpu", "period", false},   {"cpu-quota", "cpu", "quota", false},
      {"cpu-share", "cpu", "shares", false},    {"memory", "memory", "limit", true},
      {"memory-reservation", "memory", "reservation", true},
      {"memory-swap", "memory", "swap", true},  {"pids-limit", "pids", "limit", false},
  };
  for (const auto& k : kKnobs)
    if (f.has(k.flag)) {
      std::string v = f.str(k.flag);
      r[k.group][k.key] = k.bytes ? parseBytes(k.flag, v) : parseInt(k.flag, v);
    }
  if (f.has("cpuset-cpus")) r["cpu"]["cpus"] = f.str("cpuset-cpus");
  if (f.has("cpuset-mems")) r["cpu"]["mems"] = f.str("cpuset-mems");
  updateContainer(g, f.positionals[0], r.dump());
  return 0;
}
}  // namespace

const Command kUpdateCommand{"update", "<container-id>",
                             "update container resource constraints", kFlags, run};

}  // namespace sv::runc
