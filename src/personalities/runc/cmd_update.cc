#include <unistd.h>

#include <fmt/format.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/resources.h"
#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
// runc 1.1's flags and words; --kernel-memory* are accepted and ignored with a warning.
constexpr FlagSpec kFlags[] = {
    {"resources", "r", FlagKind::kString,
     "path to the file containing the resources to update or '-' to read from the standard input"},
    {"blkio-weight", "", FlagKind::kString, "Specifies per cgroup weight, range is from 10 to 1000",
     "0"},
    {"cpu-period", "", FlagKind::kString,
     "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"},
    {"cpu-quota", "", FlagKind::kString,
     "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"},
    {"cpu-share", "", FlagKind::kString, "CPU shares (relative weight vs. other containers)"},
    {"cpu-rt-period", "", FlagKind::kString,
     "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"},
    {"cpu-rt-runtime", "", FlagKind::kString,
     "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"},
    {"cpuset-cpus", "", FlagKind::kString, "CPU(s) to use"},
    {"cpuset-mems", "", FlagKind::kString, "Memory node(s) to use"},
    {"kernel-memory", "", FlagKind::kString, "(obsoleted; do not use)"},
    {"kernel-memory-tcp", "", FlagKind::kString, "(obsoleted; do not use)"},
    {"memory", "", FlagKind::kString, "Memory limit (in bytes)"},
    {"memory-reservation", "", FlagKind::kString, "Memory reservation or soft_limit (in bytes)"},
    {"memory-swap", "", FlagKind::kString,
     "Total memory usage (memory + swap); set '-1' to enable unlimited swap"},
    {"pids-limit", "", FlagKind::kString, "Maximum number of pids allowed in the container", "0"},
    {"l3-cache-schema", "", FlagKind::kString, "The string of Intel RDT/CAT L3 cache schema"},
    {"mem-bw-schema", "", FlagKind::kString, "The string of Intel RDT/MBA memory bandwidth schema"},
};

// docker/go-units RAMInBytes, as runc reads sizes: "64m", "1.5g", "100", "512KiB", "-1".
int64_t parseBytes(const std::string& flag, const std::string& v) {
  if (v == "-1") return -1;
  size_t used = 0;
  long double n = 0;
  try {
    if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0]))) n = std::stold(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = v.substr(used);
  if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
  static constexpr std::string_view kUnits = "kmgtp";
  long double mult = 1;
  if (!unit.empty()) {
    auto pos = unit.size() == 1 ? kUnits.find(unit[0]) : std::string_view::npos;
    // 1024^(pos+1) as a shift: std::pow would make every start of the runtime map libm.
    mult = pos == std::string_view::npos ? 0 : static_cast<long double>(1ULL << (10 * (pos + 1)));
  }
  if (used == 0 || mult == 0 || n < 0 || n * mult > 9.2e18L)
    throw UserError(
        fmt::format("invalid value for {}: \"{}\" is not a size (bytes, or with "
                    "k/m/g/t/p)",
                    flag, v));
  return static_cast<int64_t>(n * mult);
}

int64_t parseInt(const std::string& flag, const std::string& v, bool isUnsigned) {
  try {
    size_t used = 0;
    int64_t n = std::stoll(v, &used);
    if (used == v.size() && !(isUnsigned && n < 0)) return n;
  } catch (const std::exception&) {
  }
  throw UserError(fmt::format("invalid value for {}: \"{}\" is not {}", flag, v,
                              isUnsigned ? "a non-negative integer" : "an integer"));
}

// linux.resources JSON from the individual flags (runc: 0 leaves a value as it is).
nlohmann::json resourcesFromFlags(const ParsedFlags& f) {
  nlohmann::json r = nlohmann::json::object();
  enum class Kind { kUnsigned, kSigned, kBytes };
  struct Knob {
    const char* flag;
    const char* group;
    const char* key;
    Kind kind;
  };
  static constexpr Knob kKnobs[] = {
      {"blkio-weight", "blockIO", "weight", Kind::kUnsigned},
      {"cpu-period", "cpu", "period", Kind::kUnsigned},
      {"cpu-quota", "cpu", "quota", Kind::kSigned},
      {"cpu-share", "cpu", "shares", Kind::kUnsigned},
      {"cpu-rt-period", "cpu", "realtimePeriod", Kind::kUnsigned},
      {"cpu-rt-runtime", "cpu", "realtimeRuntime", Kind::kSigned},
      {"kernel-memory", "memory", "kernel", Kind::kBytes},
      {"kernel-memory-tcp", "memory", "kernelTCP", Kind::kBytes},
      {"memory", "memory", "limit", Kind::kBytes},
      {"memory-reservation", "memory", "reservation", Kind::kBytes},
      {"memory-swap", "memory", "swap", Kind::kBytes},
      {"pids-limit", "pids", "limit", Kind::kSigned},
  };
  for (const auto& k : kKnobs) {
    std::string v = f.str(k.flag);
    if (v.empty()) continue;
    std::string flag = fmt::format("--{}", k.flag);
    int64_t n =
        k.kind == Kind::kBytes ? parseBytes(flag, v) : parseInt(flag, v, k.kind == Kind::kUnsigned);
    if (n != 0) r[k.group][k.key] = n;
  }
  if (!f.str("cpuset-cpus").empty()) r["cpu"]["cpus"] = f.str("cpuset-cpus");
  if (!f.str("cpuset-mems").empty()) r["cpu"]["mems"] = f.str("cpuset-mems");
  return r;
}

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 1, "update");
  for (const char* rdt : {"l3-cache-schema", "mem-bw-schema"})
    if (!f.str(rdt).empty())
      throw UserError(
          fmt::format("--{}: Intel RDT (resctrl) is not available: sysvisor-runc "
                      "does not manage Intel RDT/CAT or MBA",
                      rdt));
  nlohmann::json value;
  if (f.has("resources")) {
    // runc: with --resources every other flag is ignored.
    std::string path = f.str("resources");
    value = nlohmann::json::parse(
        path == "-" ? readFileAt(STDIN_FILENO, "/proc/self/fd/0") : readFile(path), nullptr, false);
    if (!value.is_object())
      throw UserError(fmt::format("--resources {}: not a JSON object of linux.resources", path));
  } else {
    value = resourcesFromFlags(f);
  }
  cg::Resources resources = cg::readResources(value);
  for (const auto& w : resources.warnings) log::warn("{}", w);
  updateContainer(g, f.positionals[0], resources);
  return 0;
}
}  // namespace

const Command kUpdateCommand{"update", "<container-id>", "update container resource constraints",
                             kFlags, run};

}  // namespace sv::runc
