// config.json -> oci::Spec. Every JSON object type has one table of {key, reader, rule};
// readFields() looks each key up once and hands the value to its reader, so adding a field is
// one table row. The document is parsed once and strings are moved out of it, not copied.
// Unknown keys are ignored at every level, as runc does, for forward compatibility.
#include <sys/personality.h>

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>
#include <type_traits>
#include <utility>

#include "oci/spec.h"

namespace sv::oci {
namespace {

using Json = nlohmann::json;

// Where a value sits in config.json ("linux.namespaces[2].type"). Chained on the stack and
// only turned into text when an error message needs it.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  size_t index = 0;
  bool isIndex = false;

  std::string str() const {
    if (parent == nullptr) return std::string(key);
    std::string s = parent->str();
    if (isIndex) {
      fmt::format_to(std::back_inserter(s), "[{}]", index);
    } else {
      if (!s.empty()) s += '.';
      s += key;
    }
    return s;
  }
};

Path child(const Path& p, std::string_view key) {
  return Path{&p, key};
}
Path element(const Path& p, size_t i) {
  return Path{&p, {}, i, true};
}

// ---- errors

[[noreturn]] void fail(const Path& p, std::string_view must) {
  throw SpecError(fmt::format("config.json: \"{}\" {}", p.str(), must));
}

[[noreturn]] void failAt(const Path& p, std::string_view problem) {
  throw SpecError(fmt::format("config.json: \"{}\": {}", p.str(), problem));
}

std::string describe(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::string:
      return "a string";
    default:
      return v.dump();  // numbers and booleans say more by value
  }
}

[[noreturn]] void typeError(const Path& p, std::string_view expected, const Json& v) {
  fail(p, fmt::format("must be {}, got {}", expected, describe(v)));
}

// nlohmann's text without its "[json.exception.parse_error.101] " tag.
std::string_view reasonOf(const Json::exception& e) {
  std::string_view reason = e.what();
  if (size_t end = reason.find("] "); end != std::string_view::npos) reason.remove_prefix(end + 2);
  return reason;
}

std::string syntaxError(const std::string& text, const Json::parse_error& e) {
  // e.byte is the 1-based offset of the last byte read, the one that broke the parse.
  const size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
  const auto begin = text.begin();
  const size_t line = 1 + static_cast<size_t>(std::count(begin, begin + at, '\n'));
  const size_t lastNewline = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
  const size_t column = lastNewline == std::string::npos ? at + 1 : at - lastNewline;
  // nlohmann says "parse error at line 1, column 6: <reason>" (after its tag).
  std::string_view reason = reasonOf(e);
  if (size_t colon = reason.find(": "); colon != std::string_view::npos) {
    reason.remove_prefix(colon + 2);
  }
  return fmt::format("config.json is not valid JSON: {} at line {}, column {}", reason, line,
                     column);
}

// ---- scalar readers

std::string takeString(Json& v, const Path& p) {
  if (!v.is_string()) typeError(p, "a string", v);
  auto& s = v.get_ref<std::string&>();
  // Everything here ends up in a system call, which would silently cut the string at a NUL.
  if (s.find('\0') != std::string::npos) fail(p, "contains a NUL byte; remove it");
  return std::move(s);
}

bool asBool(const Json& v, const Path& p) {
  if (!v.is_boolean()) typeError(p, "true or false", v);
  return v.get<bool>();
}

template <typename T>
T asInt(const Json& v, const Path& p) {
  if (v.is_number_unsigned()) {
    if (auto u = v.get<uint64_t>(); std::in_range<T>(u)) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    if (auto i = v.get<int64_t>(); std::in_range<T>(i)) return static_cast<T>(i);
  }
  typeError(p,
            fmt::format("an integer from {} to {}", std::numeric_limits<T>::min(),
                        std::numeric_limits<T>::max()),
            v);
}

void requireAbsolute(const std::string& path, const Path& p) {
  if (path.starts_with('/')) return;
  if (path.empty()) fail(p, "must be an absolute path, got an empty string");
  fail(p, fmt::format("must be an absolute path, got {:?} (did you mean {:?}?)", path, "/" + path));
}

// ---- containers

template <typename F>
void forEachElement(Json& v, const Path& p, std::string_view expected, F&& f) {
  if (!v.is_array()) typeError(p, expected, v);
  size_t i = 0;
  for (Json& e : v) {
    const Path ep = element(p, i++);
    f(e, ep);
  }
}

template <typename F>
void forEachMember(Json& v, const Path& p, F&& f) {
  if (!v.is_object()) typeError(p, "an object", v);
  for (auto it = v.begin(); it != v.end(); ++it) {
    const Path mp = child(p, it.key());
    f(it.key(), it.value(), mp);
  }
}

std::vector<std::string> takeStrings(Json& v, const Path& p,
                                     std::string_view expected = "an array of strings") {
  std::vector<std::string> out;
  if (v.is_array()) out.reserve(v.size());
  forEachElement(v, p, expected,
                 [&](Json& e, const Path& ep) { out.push_back(takeString(e, ep)); });
  return out;
}

// ---- field tables

template <typename T>
struct Field {
  std::string_view key;
  void (*read)(Json& v, const Path& p, T& out);
  const char* rule = nullptr;  // set for a required field: what it must be, used when missing
};

// Reads the fields of obj listed in the table into out; a JSON null counts as absent (as in
// Go). Returns a bit per table row that was present.
template <typename T, size_t N>
uint32_t readFields(Json& obj, const Path& p, const Field<T> (&fields)[N], T& out) {
  static_assert(N <= 32);
  if (!obj.is_object()) typeError(p, "an object", obj);
  uint32_t present = 0;
  for (size_t i = 0; i < N; ++i) {
    const Field<T>& f = fields[i];
    const Path fp = child(p, f.key);
    auto it = obj.find(f.key);
    if (it == obj.end() || it->is_null()) {
      if (f.rule != nullptr) fail(fp, f.rule);
      continue;
    }
    f.read(*it, fp, out);
    present |= 1u << i;
  }
  return present;
}

template <typename M>
struct MemberTraits;
template <typename C, typename T>
struct MemberTraits<T C::*> {
  using Class = C;
  using Type = T;
};
template <auto M>
using ClassOf = typename MemberTraits<decltype(M)>::Class;
template <auto M>
using TypeOf = typename MemberTraits<decltype(M)>::Type;

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

// Generic readers bound to a struct member: readString<&Process::cwd> and so on.
template <auto M>
void readString(Json& v, const Path& p, ClassOf<M>& out) {
  out.*M = takeString(v, p);
}

template <auto M>
void readBool(Json& v, const Path& p, ClassOf<M>& out) {
  out.*M = asBool(v, p);
}

template <auto M>
void readInt(Json& v, const Path& p, ClassOf<M>& out) {
  if constexpr (IsOptional<TypeOf<M>>::value) {
    out.*M = asInt<typename TypeOf<M>::value_type>(v, p);
  } else {
    out.*M = asInt<TypeOf<M>>(v, p);
  }
}

template <auto M>
void readStrings(Json& v, const Path& p, ClassOf<M>& out) {
  out.*M = takeStrings(v, p);
}

template <auto M>
void readAbsolutePaths(Json& v, const Path& p, ClassOf<M>& out) {
  auto& paths = out.*M;
  if (v.is_array()) paths.reserve(v.size());
  forEachElement(v, p, "an array of absolute paths", [&](Json& e, const Path& ep) {
    requireAbsolute(paths.emplace_back(takeString(e, ep)), ep);
  });
}

template <auto M>
void readAbsolutePath(Json& v, const Path& p, ClassOf<M>& out) {
  requireAbsolute(out.*M = takeString(v, p), p);
}

// linux.resources, linux.seccomp, hooks: kept for the code that applies them, as text (for
// state.json) and as the value itself, moved out of the document.
template <auto Text, auto Value>
void readRawObject(Json& v, const Path& p, ClassOf<Text>& out) {
  if (!v.is_object()) typeError(p, "an object", v);
  out.*Text = v.dump();
  out.*Value = std::move(v);
}

template <auto M, const auto& Fields>
void readObject(Json& v, const Path& p, ClassOf<M>& out) {
  if constexpr (IsOptional<TypeOf<M>>::value) {
    readFields(v, p, Fields, (out.*M).emplace());
  } else {
    readFields(v, p, Fields, out.*M);
  }
}

template <auto M>
void readStringMap(Json& v, const Path& p, ClassOf<M>& out) {
  auto& map = out.*M;
  forEachMember(v, p, [&](const std::string& key, Json& value, const Path& vp) {
    if (!value.is_string()) typeError(vp, "a string", value);
    // JSON objects iterate in key order, so every insert goes at the end.
    map.emplace_hint(map.end(), key, std::move(value.get_ref<std::string&>()));
  });
}

constexpr const char* kU32Rule = "must be an integer from 0 to 4294967295";
constexpr const char* kU64Rule = "must be an integer from 0 to 18446744073709551615";

// ---- process

constexpr const char* kArgsRule = "must be a non-empty array of strings";
constexpr const char* kAbsolutePathRule = "must be an absolute path";

void readArgs(Json& v, const Path& p, Process& out) {
  out.args = takeStrings(v, p, "a non-empty array of strings");
  if (out.args.empty()) fail(p, kArgsRule);
}

void readEnv(Json& v, const Path& p, Process& out) {
  out.env = takeStrings(v, p);
  for (size_t i = 0; i < out.env.size(); ++i) {
    const std::string& kv = out.env[i];
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      failAt(element(p, i),
             fmt::format("invalid environment variable {:?}: write it as NAME=value", kv));
    }
  }
}

void readCwd(Json& v, const Path& p, Process& out) {
  requireAbsolute(out.cwd = takeString(v, p), p);
}

void readOomScoreAdj(Json& v, const Path& p, Process& out) {
  const int adj = asInt<int>(v, p);
  if (adj < -1000 || adj > 1000) fail(p, fmt::format("must be from -1000 to 1000, got {}", adj));
  out.oomScoreAdj = adj;
}

template <auto M>
void readCapabilityList(Json& v, const Path& p, Capabilities& out) {
  auto& caps = out.*M;
  if (v.is_array()) caps.reserve(v.size());
  forEachElement(v, p, "an array of capability names", [&](Json& e, const Path& ep) {
    if (!e.is_string()) typeError(ep, "a capability name", e);
    const auto& name = e.get_ref<const std::string&>();
    const auto cap = capFromName(name);
    if (!cap) {
      throw SpecError(fmt::format(
          "config.json: unknown capability {:?} in \"{}\" (names are upper case with a CAP_ "
          "prefix, such as \"CAP_NET_ADMIN\"; see capabilities(7))",
          name, p.str()));
    }
    caps.push_back(*cap);
  });
}

constexpr Field<Capabilities> kCapabilityFields[] = {
    {"bounding", readCapabilityList<&Capabilities::bounding>},
    {"effective", readCapabilityList<&Capabilities::effective>},
    {"inheritable", readCapabilityList<&Capabilities::inheritable>},
    {"permitted", readCapabilityList<&Capabilities::permitted>},
    {"ambient", readCapabilityList<&Capabilities::ambient>},
};

void readRlimitType(Json& v, const Path& p, Rlimit& out) {
  if (!v.is_string()) typeError(p, "an RLIMIT_* name", v);
  const auto& name = v.get_ref<const std::string&>();
  const auto resource = rlimitFromName(name);
  if (!resource) {
    failAt(p, fmt::format("unknown rlimit {:?} (use an RLIMIT_* name from getrlimit(2), such "
                          "as \"RLIMIT_NOFILE\")",
                          name));
  }
  out.resource = *resource;
}

constexpr Field<Rlimit> kRlimitFields[] = {
    {"type", readRlimitType, "must be an RLIMIT_* name such as \"RLIMIT_NOFILE\""},
    {"hard", readInt<&Rlimit::hard>, kU64Rule},
    {"soft", readInt<&Rlimit::soft>, kU64Rule},
};

void readRlimits(Json& v, const Path& p, Process& out) {
  uint32_t seen = 0;  // one bit per resource; there are 16
  if (v.is_array()) out.rlimits.reserve(v.size());
  forEachElement(v, p, "an array of rlimits", [&](Json& e, const Path& ep) {
    Rlimit& r = out.rlimits.emplace_back();
    readFields(e, ep, kRlimitFields, r);
    // Only error messages need the name again.
    auto name = [&e] { return e.find("type")->get<std::string>(); };
    if (seen & (1u << r.resource)) failAt(ep, fmt::format("rlimit {:?} listed twice", name()));
    seen |= 1u << r.resource;
    if (r.soft > r.hard) {
      failAt(ep, fmt::format("{}: soft limit {} is above hard limit {}", name(), r.soft, r.hard));
    }
  });
}

constexpr Field<ConsoleSize> kConsoleSizeFields[] = {
    {"height", readInt<&ConsoleSize::height>, "must be an integer (rows)"},
    {"width", readInt<&ConsoleSize::width>, "must be an integer (columns)"},
};

void readGids(Json& v, const Path& p, User& out) {
  if (v.is_array()) out.additionalGids.reserve(v.size());
  forEachElement(v, p, "an array of group ids", [&](Json& e, const Path& ep) {
    out.additionalGids.push_back(asInt<uint32_t>(e, ep));
  });
}

constexpr Field<User> kUserFields[] = {
    {"uid", readInt<&User::uid>, kU32Rule},
    {"gid", readInt<&User::gid>, kU32Rule},
    {"umask", readInt<&User::umask>},
    {"additionalGids", readGids},
};

struct NamedNumber {
  std::string_view name;
  int value;
};

template <size_t N>
int readNamed(Json& v, const Path& p, const NamedNumber (&table)[N], const char* what) {
  if (!v.is_string()) typeError(p, what, v);
  const auto& name = v.get_ref<const std::string&>();
  for (const auto& e : table)
    if (e.name == name) return e.value;
  std::string known;
  for (const auto& e : table) known += fmt::format("{}{:?}", known.empty() ? "" : ", ", e.name);
  failAt(p, fmt::format("unknown {} {:?} (one of {})", what, name, known));
}

constexpr NamedNumber kIoClasses[] = {
    {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};

void readIoClass(Json& v, const Path& p, IoPriority& out) {
  out.ioClass = readNamed(v, p, kIoClasses, "I/O priority class");
}

void readIoLevel(Json& v, const Path& p, IoPriority& out) {
  out.priority = asInt<int>(v, p);
  if (out.priority < 0 || out.priority > 7) fail(p, "must be from 0 to 7");
}

constexpr Field<IoPriority> kIoPriorityFields[] = {
    {"class", readIoClass, "must be \"IOPRIO_CLASS_RT\", \"IOPRIO_CLASS_BE\" or \"IOPRIO_CLASS_IDLE\""},
    {"priority", readIoLevel},
};

constexpr NamedNumber kSchedPolicies[] = {
    {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},     {"SCHED_BATCH", 3},
    {"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6}};
constexpr NamedNumber kSchedFlags[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01}, {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},    {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},   {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40}};

void readSchedPolicy(Json& v, const Path& p, Scheduler& out) {
  out.policy = readNamed(v, p, kSchedPolicies, "scheduling policy");
}

void readSchedFlags(Json& v, const Path& p, Scheduler& out) {
  forEachElement(v, p, "an array of SCHED_FLAG_* names", [&](Json& e, const Path& ep) {
    out.flags |= static_cast<uint64_t>(readNamed(e, ep, kSchedFlags, "scheduler flag"));
  });
}

constexpr Field<Scheduler> kSchedulerFields[] = {
    {"policy", readSchedPolicy, "must be a SCHED_* policy name such as \"SCHED_OTHER\""},
    {"nice", readInt<&Scheduler::nice>},
    {"priority", readInt<&Scheduler::priority>},
    {"flags", readSchedFlags},
    {"runtime", readInt<&Scheduler::runtime>, nullptr},
    {"deadline", readInt<&Scheduler::deadline>, nullptr},
    {"period", readInt<&Scheduler::period>, nullptr},
};

void readScheduler(Json& v, const Path& p, Process& out) {
  Scheduler& s = out.scheduler.emplace();
  readFields(v, p, kSchedulerFields, s);
  if (s.nice < -20 || s.nice > 19) fail(child(p, "nice"), "must be from -20 to 19");
  const bool realtime = s.policy == 1 || s.policy == 2;
  if (realtime && (s.priority < 1 || s.priority > 99))
    fail(child(p, "priority"), "must be from 1 to 99 for SCHED_FIFO and SCHED_RR");
  if (!realtime && s.priority != 0)
    fail(child(p, "priority"), "must be 0 unless the policy is SCHED_FIFO or SCHED_RR");
  if (s.policy == 6 && !(s.runtime > 0 && s.runtime <= s.deadline &&
                         (s.period == 0 || s.deadline <= s.period)))
    fail(p, "SCHED_DEADLINE needs 0 < runtime <= deadline <= period (period 0 = deadline)");
}

constexpr Field<Process> kProcessFields[] = {
    {"terminal", readBool<&Process::terminal>},
    {"consoleSize", readObject<&Process::consoleSize, kConsoleSizeFields>},
    {"user", readObject<&Process::user, kUserFields>},
    {"args", readArgs, kArgsRule},
    {"env", readEnv},
    {"cwd", readCwd, kAbsolutePathRule},
    {"capabilities", readObject<&Process::capabilities, kCapabilityFields>},
    {"rlimits", readRlimits},
    {"noNewPrivileges", readBool<&Process::noNewPrivileges>},
    {"apparmorProfile", readString<&Process::apparmorProfile>},
    {"oomScoreAdj", readOomScoreAdj},
    {"selinuxLabel", readString<&Process::selinuxLabel>},
    {"ioPriority", readObject<&Process::ioPriority, kIoPriorityFields>},
    {"scheduler", readScheduler},
};

// ---- id mappings, mounts

constexpr Field<IdMapping> kIdMappingFields[] = {
    {"containerID", readInt<&IdMapping::containerID>, kU32Rule},
    {"hostID", readInt<&IdMapping::hostID>, kU32Rule},
    {"size", readInt<&IdMapping::size>, kU32Rule},
};

template <auto M>
void readIdMappings(Json& v, const Path& p, ClassOf<M>& out) {
  auto& maps = out.*M;
  if (v.is_array()) maps.reserve(v.size());
  forEachElement(v, p, "an array of id mappings", [&](Json& e, const Path& ep) {
    readFields(e, ep, kIdMappingFields, maps.emplace_back());
    if (maps.back().size == 0) fail(child(ep, "size"), "must be at least 1");
  });
}

constexpr Field<Mount> kMountFields[] = {
    {"destination", readAbsolutePath<&Mount::destination>, kAbsolutePathRule},
    {"type", readString<&Mount::type>},
    {"source", readString<&Mount::source>},
    {"options", readStrings<&Mount::options>},
    {"uidMappings", readIdMappings<&Mount::uidMappings>},
    {"gidMappings", readIdMappings<&Mount::gidMappings>},
};

bool isBind(const Mount& m) {
  return std::any_of(m.options.begin(), m.options.end(),
                     [](const std::string& o) { return o == "bind" || o == "rbind"; });
}

void readMounts(Json& v, const Path& p, Spec& out) {
  if (v.is_array()) out.mounts.reserve(v.size());
  forEachElement(v, p, "an array of mounts", [&](Json& e, const Path& ep) {
    Mount& m = out.mounts.emplace_back();
    readFields(e, ep, kMountFields, m);
    // The kernel ignores the type of a bind mount; name it so appliers need one test.
    if ((m.type.empty() || m.type == "none") && isBind(m)) m.type = "bind";
  });
}

// ---- linux

std::string knownNamespaces() {
  std::string names;
  for (int t = 0; t <= static_cast<int>(NsType::kTime); ++t) {
    if (!names.empty()) names += ", ";
    names += nsName(static_cast<NsType>(t));
  }
  return names;
}

void readNsType(Json& v, const Path& p, Namespace& out) {
  if (!v.is_string()) typeError(p, "a namespace type", v);
  const auto& name = v.get_ref<const std::string&>();
  const auto type = nsTypeFromName(name);
  if (!type) {
    failAt(p, fmt::format("unknown namespace type {:?} (known: {})", name, knownNamespaces()));
  }
  out.type = *type;
}

void readNsPath(Json& v, const Path& p, Namespace& out) {
  out.path = takeString(v, p);
  if (!out.path.empty()) requireAbsolute(out.path, p);
}

constexpr Field<Namespace> kNamespaceFields[] = {
    {"type", readNsType,
     "must be a namespace type (pid, network, mount, ipc, uts, user, cgroup or time)"},
    {"path", readNsPath},
};

void readNamespaces(Json& v, const Path& p, Linux& out) {
  uint32_t seen = 0;
  if (v.is_array()) out.namespaces.reserve(v.size());
  forEachElement(v, p, "an array of namespaces", [&](Json& e, const Path& ep) {
    Namespace& ns = out.namespaces.emplace_back();
    readFields(e, ep, kNamespaceFields, ns);
    const uint32_t bit = 1u << static_cast<int>(ns.type);
    if (seen & bit) {
      failAt(ep, fmt::format("namespace \"{}\" listed twice; keep one entry", nsName(ns.type)));
    }
    seen |= bit;
  });
}

void readDeviceType(Json& v, const Path& p, Device& out) {
  constexpr std::string_view kTypes = "cbup";
  if (!v.is_string()) typeError(p, "a device type", v);
  const auto& t = v.get_ref<const std::string&>();
  if (t.size() != 1 || kTypes.find(t[0]) == std::string_view::npos) {
    failAt(p, fmt::format("unknown device type {:?} (use \"c\" or \"u\" for character, \"b\" for "
                          "block, \"p\" for a FIFO)",
                          t));
  }
  out.type = t[0];
}

constexpr Field<Device> kDeviceFields[] = {
    {"type", readDeviceType, "must be a device type (\"c\", \"b\", \"u\" or \"p\")"},
    {"path", readAbsolutePath<&Device::path>, kAbsolutePathRule},
    {"major", readInt<&Device::major>},
    {"minor", readInt<&Device::minor>},
    {"fileMode", readInt<&Device::fileMode>},
    {"uid", readInt<&Device::uid>},
    {"gid", readInt<&Device::gid>},
};
constexpr uint32_t kMajorMinorBits = 1u << 2 | 1u << 3;

void readDevices(Json& v, const Path& p, Linux& out) {
  if (v.is_array()) out.devices.reserve(v.size());
  forEachElement(v, p, "an array of devices", [&](Json& e, const Path& ep) {
    Device& d = out.devices.emplace_back();
    const uint32_t present = readFields(e, ep, kDeviceFields, d);
    if (d.type != 'p' && (present & kMajorMinorBits) != kMajorMinorBits) {
      failAt(ep, fmt::format("device {:?} of type '{}' needs \"major\" and \"minor\" numbers",
                             d.path, d.type));
    }
  });
}

// Keys become /proc/sys paths by turning dots into slashes, so a key must be dot-separated
// words: no "/" and no empty word, which together rule out any ".." path component.
bool validSysctlKey(std::string_view key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  if (key.find('/') != std::string_view::npos) return false;
  if (key.find('\0') != std::string_view::npos) return false;
  return key.find("..") == std::string_view::npos;
}

void readSysctl(Json& v, const Path& p, Linux& out) {
  forEachMember(v, p, [&](const std::string& key, Json& value, const Path& vp) {
    if (!validSysctlKey(key)) {
      failAt(p, fmt::format("invalid key {:?}: a sysctl name is dot-separated words such as "
                            "\"net.ipv4.ip_forward\", without \"/\" or empty words",
                            key));
    }
    out.sysctl.emplace_hint(out.sysctl.end(), key, takeString(value, vp));
  });
}

constexpr Field<TimeOffset> kTimeOffsetFields[] = {
    {"secs", readInt<&TimeOffset::secs>},
    {"nanosecs", readInt<&TimeOffset::nanosecs>},
};

void readTimeOffsets(Json& v, const Path& p, Linux& out) {
  forEachMember(v, p, [&](const std::string& clock, Json& value, const Path& vp) {
    if (clock != "monotonic" && clock != "boottime") {
      failAt(p, fmt::format("unknown clock {:?} (use \"monotonic\" or \"boottime\")", clock));
    }
    TimeOffset& offset = out.timeOffsets[clock];
    readFields(value, vp, kTimeOffsetFields, offset);
    if (offset.nanosecs >= 1'000'000'000) {
      fail(child(vp, "nanosecs"), "must be below 1000000000");
    }
  });
}

struct NamedDomain {
  std::string_view name;
  unsigned long domain;
};
constexpr NamedDomain kPersonalityDomains[] = {{"LINUX", PER_LINUX}, {"LINUX32", PER_LINUX32}};

void readPersonalityDomain(Json& v, const Path& p, Linux& out) {
  if (!v.is_string()) typeError(p, "\"LINUX\" or \"LINUX32\"", v);
  const auto& name = v.get_ref<const std::string&>();
  for (const auto& d : kPersonalityDomains) {
    if (d.name == name) {
      out.personalityDomain = d.domain;
      return;
    }
  }
  failAt(p, fmt::format("unknown personality domain {:?} (use \"LINUX\" or \"LINUX32\")", name));
}

constexpr Field<Linux> kPersonalityFields[] = {
    {"domain", readPersonalityDomain, "must be \"LINUX\" or \"LINUX32\""},
    {"flags", readStrings<&Linux::personalityFlags>},
};

void readPersonality(Json& v, const Path& p, Linux& out) {
  readFields(v, p, kPersonalityFields, out);
}

constexpr std::string_view kPropagations[] = {
    "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable",
};

void readRootfsPropagation(Json& v, const Path& p, Linux& out) {
  out.rootfsPropagation = takeString(v, p);
  if (std::find(std::begin(kPropagations), std::end(kPropagations), out.rootfsPropagation) ==
      std::end(kPropagations)) {
    failAt(p, fmt::format("unknown propagation {:?} (use private, rprivate, slave, rslave, "
                          "shared, rshared, unbindable or runbindable)",
                          out.rootfsPropagation));
  }
}

constexpr Field<Linux> kLinuxFields[] = {
    {"uidMappings", readIdMappings<&Linux::uidMappings>},
    {"gidMappings", readIdMappings<&Linux::gidMappings>},
    {"timeOffsets", readTimeOffsets},
    {"sysctl", readSysctl},
    {"resources", readRawObject<&Linux::resourcesJson, &Linux::resources>},
    {"cgroupsPath", readString<&Linux::cgroupsPath>},
    {"namespaces", readNamespaces},
    {"devices", readDevices},
    {"seccomp", readRawObject<&Linux::seccompJson, &Linux::seccomp>},
    {"rootfsPropagation", readRootfsPropagation},
    {"maskedPaths", readAbsolutePaths<&Linux::maskedPaths>},
    {"readonlyPaths", readAbsolutePaths<&Linux::readonlyPaths>},
    {"mountLabel", readString<&Linux::mountLabel>},
    {"personality", readPersonality},
};

// ---- top level

constexpr const char* kVersionRule = "must be a non-empty string such as \"1.0.2\"";
constexpr const char* kRootPathRule =
    "must be a non-empty string: the rootfs directory, absolute or relative to the bundle";

void readOciVersion(Json& v, const Path& p, Spec& out) {
  out.ociVersion = takeString(v, p);
  if (out.ociVersion.empty()) fail(p, kVersionRule);
}

void readRootPath(Json& v, const Path& p, Root& out) {
  out.path = takeString(v, p);
  if (out.path.empty()) fail(p, kRootPathRule);
}

constexpr Field<Root> kRootFields[] = {
    {"path", readRootPath, kRootPathRule},
    {"readonly", readBool<&Root::readonly>},
};

void readAnnotations(Json& v, const Path& p, Spec& out) {
  // Annotations are opaque to the runtime, so unlike other strings they may hold any text.
  readStringMap<&Spec::annotations>(v, p, out);
}

constexpr Field<Spec> kSpecFields[] = {
    {"ociVersion", readOciVersion, kVersionRule},
    {"root", readObject<&Spec::root, kRootFields>, "must be an object with a non-empty \"path\""},
    {"mounts", readMounts},
    {"process", readObject<&Spec::process, kProcessFields>},
    {"hostname", readString<&Spec::hostname>},
    {"domainname", readString<&Spec::domainname>},
    {"annotations", readAnnotations},
    {"hooks", readRawObject<&Spec::hooksJson, &Spec::hooks>},
    {"linux", readObject<&Spec::linux, kLinuxFields>},
};

// Settings that only make sense inside a namespace of the container's own (runc's checks).
struct NsRequirement {
  NsType type;
  bool (*used)(const Spec& s);
  const char* problem;
};

constexpr NsRequirement kNsRequirements[] = {
    {NsType::kUts, [](const Spec& s) { return !s.hostname.empty(); },
     "unable to set hostname without a private UTS namespace"},
    {NsType::kUts, [](const Spec& s) { return !s.domainname.empty(); },
     "unable to set domainname without a private UTS namespace"},
    {NsType::kUser,
     [](const Spec& s) {
       return s.linux && (!s.linux->uidMappings.empty() || !s.linux->gidMappings.empty());
     },
     "\"linux.uidMappings\"/\"linux.gidMappings\" are set but there is no user namespace"},
    {NsType::kTime, [](const Spec& s) { return s.linux && !s.linux->timeOffsets.empty(); },
     "\"linux.timeOffsets\" is set but there is no time namespace"},
};

void checkNamespaceRequirements(const Spec& spec) {
  uint32_t have = 0;
  if (spec.linux) {
    for (const Namespace& ns : spec.linux->namespaces) have |= 1u << static_cast<int>(ns.type);
  }
  for (const auto& req : kNsRequirements) {
    if ((have & (1u << static_cast<int>(req.type))) == 0 && req.used(spec)) {
      throw SpecError(
          fmt::format("config.json: {}; add {{\"type\": \"{}\"}} to \"linux.namespaces\"",
                      req.problem, nsName(req.type)));
    }
  }
}

}  // namespace

Spec parseSpec(const std::string& json) {
  Json doc;
  try {
    doc = Json::parse(json);
  } catch (const Json::parse_error& e) {
    throw SpecError(syntaxError(json, e));
  } catch (const Json::out_of_range& e) {
    // A number beyond a double's range ("1e999"): nlohmann's parser throws out_of_range.406,
    // not parse_error (found by fuzz_spec).
    throw SpecError(fmt::format(
        "config.json is not valid JSON: {} (too large for any number field)", reasonOf(e)));
  }
  if (!doc.is_object()) {
    throw SpecError(fmt::format("config.json must hold a JSON object, got {}", describe(doc)));
  }
  Spec spec;
  try {
    readFields(doc, Path{}, kSpecFields, spec);
  } catch (const Json::exception& e) {
    // The readers check types first, so this is a bug; still report it as a spec problem.
    throw SpecError(fmt::format("config.json: {}", e.what()));
  }
  checkNamespaceRequirements(spec);
  return spec;
}

}  // namespace sv::oci
