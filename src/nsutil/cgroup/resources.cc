// Parsing linux.resources (runtime-spec 1.2 field names) into cg::Resources.
#include "nsutil/cgroup/resources.h"

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "base/sys_error.h"

namespace sv::cg {

namespace {
using Json = nlohmann::json;

[[noreturn]] void bad(const std::string& field, std::string_view what) {
  throw UserError(fmt::format("config.json: \"linux.resources.{}\" {}", field, what));
}

template <typename T>
std::string rangeText() {
  if constexpr (std::is_same_v<T, int64_t>)
    return "must be an integer";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "must be a non-negative integer";
  else
    return fmt::format("must be an integer from {} to {}", std::numeric_limits<T>::min(),
                       std::numeric_limits<T>::max());
}

// obj[key] as T; nullopt when absent or null; UserError naming path.key when not an integer
// that fits T.
template <typename T>
std::optional<T> integer(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned() && std::in_range<T>(it->template get<uint64_t>()))
    return static_cast<T>(it->template get<uint64_t>());
  if (it->is_number_integer() && !it->is_number_unsigned() &&
      std::in_range<T>(it->template get<int64_t>()))
    return static_cast<T>(it->template get<int64_t>());
  bad(path + "." + key, rangeText<T>());
}

template <typename T>
T required(const Json& obj, const char* key, const std::string& path) {
  auto v = integer<T>(obj, key, path);
  if (!v) bad(path + "." + key, "is required");
  return *v;
}

// runc reads 0 as "not set" for limits, shares, quota, period and weights.
template <typename T>
std::optional<T> nonZero(std::optional<T> v) {
  return v && *v == 0 ? std::nullopt : v;
}

bool boolean(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean()) bad(path + "." + key, "must be true or false");
  return it->get<bool>();
}

std::string string(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) bad(path + "." + key, "must be a string");
  return it->get<std::string>();
}

// obj[key] if it is an object (nullptr when absent or null).
const Json* object(const Json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  if (!it->is_object()) bad(path.empty() ? key : path + "." + key, "must be an object");
  return &*it;
}

// The entries of the array obj[key] (each an object), with their field paths.
std::vector<std::pair<const Json*, std::string>> entries(const Json& obj, const char* key,
                                                         const std::string& path) {
  std::vector<std::pair<const Json*, std::string>> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  std::string field = path.empty() ? key : path + "." + key;
  if (!it->is_array()) bad(field, "must be an array");
  for (size_t i = 0; i < it->size(); ++i) {
    std::string at = fmt::format("{}[{}]", field, i);
    if (!(*it)[i].is_object()) bad(at, "must be an object");
    out.emplace_back(&(*it)[i], at);
  }
  return out;
}

// A name that goes into a cgroup file's text: no whitespace, which would split the line.
std::string token(const Json& obj, const char* key, const std::string& path) {
  std::string v = string(obj, key, path);
  if (v.empty() || v.find_first_of(" \t\n") != std::string::npos)
    bad(path + "." + key, "must be a non-empty name without spaces");
  return v;
}

void parseMemory(const Json& m, Resources& r) {
  const std::string p = "memory";
  r.memory.limit = nonZero(integer<int64_t>(m, "limit", p));
  r.memory.reservation = nonZero(integer<int64_t>(m, "reservation", p));
  r.memory.swap = nonZero(integer<int64_t>(m, "swap", p));
  r.memory.swappiness = integer<uint64_t>(m, "swappiness", p);
  if (r.memory.swappiness && *r.memory.swappiness > 100) bad("memory.swappiness", "must be 0..100");
  r.memory.disableOOMKiller = boolean(m, "disableOOMKiller", p);
  r.memory.checkBeforeUpdate = boolean(m, "checkBeforeUpdate", p);
  // kernel: the kernel dropped kmem.limit_in_bytes (runc 1.1 ignores it too). kernelTCP
  // still has a v1 knob, which crun sets; v2 has none.
  if (m.contains("kernel") && !m["kernel"].is_null())
    r.warnings.push_back(
        "linux.resources.memory.kernel is ignored: kernel memory limits are gone from the "
        "kernel (runc 1.1 ignores them too)");
  r.memory.kernelTcp = nonZero(integer<int64_t>(m, "kernelTCP", p));
}

void parseCpu(const Json& c, Resources& r) {
  const std::string p = "cpu";
  r.cpu.shares = nonZero(integer<uint64_t>(c, "shares", p));
  r.cpu.quota = nonZero(integer<int64_t>(c, "quota", p));
  r.cpu.period = nonZero(integer<uint64_t>(c, "period", p));
  r.cpu.burst = integer<uint64_t>(c, "burst", p);
  r.cpu.realtimeRuntime = nonZero(integer<int64_t>(c, "realtimeRuntime", p));
  r.cpu.realtimePeriod = nonZero(integer<uint64_t>(c, "realtimePeriod", p));
  r.cpu.idle = integer<int64_t>(c, "idle", p);
  r.cpu.cpus = string(c, "cpus", p);
  r.cpu.mems = string(c, "mems", p);
}

std::optional<uint16_t> blkioWeight(const Json& obj, const char* key, const std::string& path) {
  auto w = nonZero(integer<uint16_t>(obj, key, path));
  if (w && (*w < 10 || *w > 1000)) bad(path + "." + key, "must be 10..1000 (or 0 for unset)");
  return w;
}

void parseBlockIo(const Json& b, Resources& r) {
  const std::string p = "blockIO";
  r.blockIO.weight = blkioWeight(b, "weight", p);
  r.blockIO.leafWeight = blkioWeight(b, "leafWeight", p);
  for (const auto& [e, at] : entries(b, "weightDevice", p)) {
    WeightDevice d{required<int64_t>(*e, "major", at), required<int64_t>(*e, "minor", at),
                   blkioWeight(*e, "weight", at), blkioWeight(*e, "leafWeight", at)};
    r.blockIO.weightDevices.push_back(d);
  }
  struct Throttle {
    const char* key;
    std::vector<ThrottleDevice> BlockIoResources::*list;
  };
  static constexpr Throttle kThrottles[] = {
      {"throttleReadBpsDevice", &BlockIoResources::readBps},
      {"throttleWriteBpsDevice", &BlockIoResources::writeBps},
      {"throttleReadIOPSDevice", &BlockIoResources::readIops},
      {"throttleWriteIOPSDevice", &BlockIoResources::writeIops},
  };
  for (const auto& t : kThrottles)
    for (const auto& [e, at] : entries(b, t.key, p))
      (r.blockIO.*t.list)
          .push_back({required<int64_t>(*e, "major", at), required<int64_t>(*e, "minor", at),
                      required<uint64_t>(*e, "rate", at)});
}

// "2MB", "1GB", "64KB": the names the kernel gives its hugetlb files.
bool validPageSize(const std::string& s) {
  if (s.size() < 3) return false;
  std::string unit = s.substr(s.size() - 2);
  if (unit != "KB" && unit != "MB" && unit != "GB") return false;
  return s.find_first_not_of("0123456789") == s.size() - 2 && s[0] != '0';
}

void parseHugepages(const Json& j, Resources& r) {
  for (const auto& [e, at] : entries(j, "hugepageLimits", "")) {
    std::string size = string(*e, "pageSize", at);
    if (!validPageSize(size))
      bad(at + ".pageSize", fmt::format("\"{}\" is not a page size like 2MB or 1GB", size));
    r.hugepageLimits.push_back({size, required<uint64_t>(*e, "limit", at)});
  }
}

void parseNetwork(const Json& n, Resources& r) {
  const std::string p = "network";
  r.network.classId = integer<uint32_t>(n, "classID", p);
  for (const auto& [e, at] : entries(n, "priorities", p))
    r.network.priorities.push_back({token(*e, "name", at), required<uint32_t>(*e, "priority", at)});
}

void parseRdma(const Json& j, Resources& r) {
  for (const auto& [device, limits] : j.items()) {
    std::string at = "rdma." + device;
    if (device.empty() || device.find_first_of(" \t\n") != std::string::npos)
      bad(at, "is not a device name");
    if (!limits.is_object()) bad(at, "must be an object");
    r.rdma.push_back({device, integer<uint32_t>(limits, "hcaHandles", at),
                      integer<uint32_t>(limits, "hcaObjects", at)});
  }
}

void parseUnified(const Json& j, Resources& r) {
  for (const auto& [key, value] : j.items()) {
    // The key names a file in the container's own cgroup2 directory, never one elsewhere.
    if (key.empty() || key == "." || key == ".." || key.find('/') != std::string::npos ||
        key.find('\0') != std::string::npos)
      bad("unified", fmt::format("key \"{}\" is not a cgroup file name", key));
    if (!value.is_string()) bad("unified." + key, "must be a string");
    r.unified[key] = value.get<std::string>();
  }
}
}  // namespace

Resources parseResources(const std::string& text) {
  if (text.empty()) return {};
  return readResources(Json::parse(text, nullptr, false));
}

Resources readResources(const Json& j) {
  Resources r;
  if (j.is_null()) return r;
  if (!j.is_object()) throw UserError("config.json: \"linux.resources\" must be an object");
  auto devices = j.find("devices");
  if (devices != j.end() && devices->is_array())
    for (const auto& d : *devices) r.devices.push_back(parseDeviceRule(d));
  if (const Json* m = object(j, "memory", "")) parseMemory(*m, r);
  if (const Json* c = object(j, "cpu", "")) parseCpu(*c, r);
  if (const Json* p = object(j, "pids", "")) r.pidsLimit = integer<int64_t>(*p, "limit", "pids");
  if (const Json* b = object(j, "blockIO", "")) parseBlockIo(*b, r);
  parseHugepages(j, r);
  if (const Json* n = object(j, "network", "")) parseNetwork(*n, r);
  if (const Json* d = object(j, "rdma", "")) parseRdma(*d, r);
  if (const Json* u = object(j, "unified", "")) parseUnified(*u, r);
  return r;
}

uint64_t sharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkioToIoWeight(uint64_t weight) {
  if (weight == 0) return 0;
  if (weight < 10) weight = 10;
  return 1 + (weight - 10) * 9999 / 990;
}

}  // namespace sv::cg
