#include "nsutil/cgroup/stats.h"

#include <dirent.h>
#include <fcntl.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "nsutil/cgroup/cgroup.h"
#include "nsutil/cgroup/knob.h"
#include "nsutil/cgroup/resources.h"

namespace sv::cg {

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
// USER_HZ: cpuacct.stat counts in ticks of 1/100 s on every Linux architecture runc supports.
constexpr uint64_t kNsPerTick = 1000000000 / 100;

uint64_t number(int dirfd, const std::string& name) {
  return readKnobNumber(dirfd, name.c_str()).value_or(0);
}

std::optional<uint64_t> toNumber(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "key value" lines (memory.stat, cpu.stat, cpuacct.stat, *.events).
std::map<std::string, uint64_t> keyValues(int dirfd, const char* name) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(readKnob(dirfd, name).value_or(""));
  std::string key, value;
  while (in >> key >> value)
    if (auto v = toNumber(value)) out[key] = *v;
  return out;
}

std::vector<uint64_t> numbers(const std::string& text) {
  std::vector<uint64_t> out;
  std::istringstream in(text);
  std::string word;
  while (in >> word)
    if (auto v = toNumber(word)) out.push_back(*v);
  return out;
}

MemoryEntry memoryEntryV1(int dirfd, const std::string& prefix) {
  MemoryEntry e;
  e.usage = number(dirfd, prefix + ".usage_in_bytes");
  e.max = number(dirfd, prefix + ".max_usage_in_bytes");
  e.failcnt = number(dirfd, prefix + ".failcnt");
  e.limit = number(dirfd, prefix + ".limit_in_bytes");
  return e;
}

MemoryEntry memoryEntryV2(int dirfd, const std::string& prefix) {
  MemoryEntry e;
  e.usage = number(dirfd, prefix + ".current");
  e.limit = number(dirfd, prefix + ".max");
  e.max = number(dirfd, prefix + ".peak");  // kernel 5.19+ (swap: 6.5+)
  return e;
}

// v1 blkio lines: "8:0 Read 1282048" or "8:0 6792"; "Total 3477504" is skipped.
std::vector<BlkioEntry> blkioEntries(const std::string& text) {
  std::vector<BlkioEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string dev, a, b;
    if (!(words >> dev >> a)) continue;
    words >> b;
    auto colon = dev.find(':');
    if (colon == std::string::npos) continue;
    auto major = toNumber(std::string_view(dev).substr(0, colon));
    auto minor = toNumber(std::string_view(dev).substr(colon + 1));
    auto value = toNumber(b.empty() ? a : b);
    if (!major || !minor || !value) continue;
    out.push_back({*major, *minor, b.empty() ? "" : a, *value});
  }
  return out;
}

void blkioV1(int dirfd, Stats::Blkio& b) {
  using List = std::vector<BlkioEntry> Stats::Blkio::*;
  struct File {
    const char* name;
    List list;
  };
  // runc's order of preference: BFQ with debug stats, BFQ, CFQ, throttling (recursive, then
  // not). The first group whose first file has entries is the one read.
  static const std::vector<std::vector<File>> kGroups = {
      {{"blkio.bfq.sectors_recursive", &Stats::Blkio::sectors},
       {"blkio.bfq.io_service_time_recursive", &Stats::Blkio::serviceTime},
       {"blkio.bfq.io_wait_time_recursive", &Stats::Blkio::waitTime},
       {"blkio.bfq.io_merged_recursive", &Stats::Blkio::merged},
       {"blkio.bfq.io_queued_recursive", &Stats::Blkio::queued},
       {"blkio.bfq.time_recursive", &Stats::Blkio::time},
       {"blkio.bfq.io_serviced_recursive", &Stats::Blkio::serviced},
       {"blkio.bfq.io_service_bytes_recursive", &Stats::Blkio::serviceBytes}},
      {{"blkio.bfq.io_serviced_recursive", &Stats::Blkio::serviced},
       {"blkio.bfq.io_service_bytes_recursive", &Stats::Blkio::serviceBytes}},
      {{"blkio.sectors_recursive", &Stats::Blkio::sectors},
       {"blkio.io_service_time_recursive", &Stats::Blkio::serviceTime},
       {"blkio.io_wait_time_recursive", &Stats::Blkio::waitTime},
       {"blkio.io_merged_recursive", &Stats::Blkio::merged},
       {"blkio.io_queued_recursive", &Stats::Blkio::queued},
       {"blkio.time_recursive", &Stats::Blkio::time},
       {"blkio.io_serviced_recursive", &Stats::Blkio::serviced},
       {"blkio.io_service_bytes_recursive", &Stats::Blkio::serviceBytes}},
      {{"blkio.throttle.io_serviced_recursive", &Stats::Blkio::serviced},
       {"blkio.throttle.io_service_bytes_recursive", &Stats::Blkio::serviceBytes}},
      {{"blkio.throttle.io_serviced", &Stats::Blkio::serviced},
       {"blkio.throttle.io_service_bytes", &Stats::Blkio::serviceBytes}},
  };
  for (const auto& group : kGroups) {
    auto first = blkioEntries(readKnob(dirfd, group[0].name).value_or(""));
    if (first.empty()) continue;
    b.*group[0].list = std::move(first);
    for (size_t i = 1; i < group.size(); ++i)
      b.*group[i].list = blkioEntries(readKnob(dirfd, group[i].name).value_or(""));
    return;
  }
}

// io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device.
void blkioV2(int dirfd, Stats::Blkio& b) {
  std::istringstream in(readKnob(dirfd, "io.stat").value_or(""));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string dev, item;
    if (!(words >> dev)) continue;
    auto colon = dev.find(':');
    if (colon == std::string::npos) continue;
    auto major = toNumber(std::string_view(dev).substr(0, colon));
    auto minor = toNumber(std::string_view(dev).substr(colon + 1));
    if (!major || !minor) continue;
    while (words >> item) {
      auto eq = item.find('=');
      if (eq == std::string::npos) continue;
      std::string key = item.substr(0, eq);
      auto value = toNumber(std::string_view(item).substr(eq + 1));
      if (!value) continue;
      std::vector<BlkioEntry>* list = key[1] == 'b' ? &b.serviceBytes : &b.serviced;
      if (key == "rbytes" || key == "rios") list->push_back({*major, *minor, "Read", *value});
      if (key == "wbytes" || key == "wios") list->push_back({*major, *minor, "Write", *value});
    }
  }
}

}  // namespace

std::vector<uint16_t> parseCpuList(const std::string& text) {
  std::vector<uint16_t> out;
  std::istringstream in(text);
  std::string range;
  while (std::getline(in, range, ',')) {
    while (!range.empty() && (range.back() == '\n' || range.back() == ' ')) range.pop_back();
    auto dash = range.find('-');
    auto lo = toNumber(std::string_view(range).substr(0, dash));
    auto hi = dash == std::string::npos ? lo : toNumber(std::string_view(range).substr(dash + 1));
    if (!lo || !hi || *hi > 65535) continue;
    for (uint64_t i = *lo; i <= *hi; ++i) out.push_back(static_cast<uint16_t>(i));
  }
  return out;
}

void statCpuacct(int dirfd, Stats& s) {
  auto ticks = keyValues(dirfd, "cpuacct.stat");
  s.cpu.user = ticks["user"] * kNsPerTick;
  s.cpu.kernel = ticks["system"] * kNsPerTick;
  s.cpu.total = number(dirfd, "cpuacct.usage");
  s.cpu.percpu = numbers(readKnob(dirfd, "cpuacct.usage_percpu").value_or(""));
  // "cpu user system" header, then one line per cpu.
  std::istringstream in(readKnob(dirfd, "cpuacct.usage_all").value_or(""));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    auto v = numbers(line);
    if (v.size() != 3) continue;
    s.cpu.percpuUser.push_back(v[1]);
    s.cpu.percpuKernel.push_back(v[2]);
  }
}

void statCpu(int dirfd, bool v2, Stats& s) {
  auto kv = keyValues(dirfd, "cpu.stat");
  s.cpu.periods = kv["nr_periods"];
  s.cpu.throttledPeriods = kv["nr_throttled"];
  if (!v2) {
    s.cpu.throttledTime = kv["throttled_time"];
    return;
  }
  s.cpu.throttledTime = kv["throttled_usec"] * 1000;
  s.cpu.total = kv["usage_usec"] * 1000;
  s.cpu.user = kv["user_usec"] * 1000;
  s.cpu.kernel = kv["system_usec"] * 1000;
}

void statCpuset(int dirfd, Stats& s) {
  auto& c = s.cpuset;
  c.cpus = parseCpuList(readKnob(dirfd, "cpuset.cpus").value_or(""));
  c.mems = parseCpuList(readKnob(dirfd, "cpuset.mems").value_or(""));
  c.cpuExclusive = number(dirfd, "cpuset.cpu_exclusive");
  c.memHardwall = number(dirfd, "cpuset.mem_hardwall");
  c.memExclusive = number(dirfd, "cpuset.mem_exclusive");
  c.memoryMigrate = number(dirfd, "cpuset.memory_migrate");
  c.memorySpreadPage = number(dirfd, "cpuset.memory_spread_page");
  c.memorySpreadSlab = number(dirfd, "cpuset.memory_spread_slab");
  c.memoryPressure = number(dirfd, "cpuset.memory_pressure");
  c.schedLoadBalance = number(dirfd, "cpuset.sched_load_balance");
  std::string level = readKnob(dirfd, "cpuset.sched_relax_domain_level").value_or("0");
  int64_t v = 0;
  std::from_chars(level.data(), level.data() + level.size(), v);
  c.schedRelaxDomainLevel = v;
}

void statMemory(int dirfd, bool v2, Stats& s) {
  auto& m = s.memory;
  m.raw = keyValues(dirfd, "memory.stat");
  if (!v2) {
    auto cache = m.raw.find("cache");
    m.cache = cache == m.raw.end() ? 0 : cache->second;
    m.usage = memoryEntryV1(dirfd, "memory");
    m.swap = memoryEntryV1(dirfd, "memory.memsw");
    m.kernel = memoryEntryV1(dirfd, "memory.kmem");
    m.kernelTCP = memoryEntryV1(dirfd, "memory.kmem.tcp");
    return;
  }
  auto file = m.raw.find("file");
  m.cache = file == m.raw.end() ? 0 : file->second;
  m.usage = memoryEntryV2(dirfd, "memory");
  // Reported as memory+swap, like v1's memsw.
  MemoryEntry swap = memoryEntryV2(dirfd, "memory.swap");
  m.swap.usage = swap.usage + m.usage.usage;
  m.swap.limit =
      swap.limit == kMax || m.usage.limit > kMax - swap.limit ? kMax : swap.limit + m.usage.limit;
}

void statPids(int dirfd, bool v2, Stats& s) {
  auto current = readKnobNumber(dirfd, "pids.current");
  if (!current && v2) {
    // Without the pids controller: the number of processes in the cgroup.
    auto procs = readKnob(dirfd, "cgroup.procs").value_or("");
    s.pids.current = static_cast<uint64_t>(std::count(procs.begin(), procs.end(), '\n'));
    return;
  }
  s.pids.current = current.value_or(0);
  uint64_t limit = number(dirfd, "pids.max");
  s.pids.limit = limit == kMax ? 0 : limit;
}

void statBlkio(int dirfd, bool v2, Stats& s) {
  if (v2)
    blkioV2(dirfd, s.blkio);
  else
    blkioV1(dirfd, s.blkio);
}

void statHugetlb(int dirfd, bool v2, const std::vector<std::string>& pageSizes, Stats& s) {
  for (const auto& size : pageSizes) {
    // The reservation counters where the kernel has them (5.7+), as runc reads them.
    std::string prefix = "hugetlb." + size + ".rsvd";
    std::string usage = prefix + (v2 ? ".current" : ".usage_in_bytes");
    if (!hasKnob(dirfd, usage.c_str())) {
      prefix = "hugetlb." + size;
      usage = prefix + (v2 ? ".current" : ".usage_in_bytes");
      if (!hasKnob(dirfd, usage.c_str())) continue;
    }
    HugetlbEntry e;
    e.usage = number(dirfd, usage);
    if (v2) {
      e.failcnt = keyValues(dirfd, (prefix + ".events").c_str())["max"];
    } else {
      e.max = number(dirfd, prefix + ".max_usage_in_bytes");
      e.failcnt = number(dirfd, prefix + ".failcnt");
    }
    s.hugetlb[size] = e;
  }
}

std::vector<std::string> hugePageSizes(const std::string& sysfsDir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(sysfsDir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.starts_with("hugepages-") || !name.ends_with("kB")) continue;
    auto kb = toNumber(name.substr(10, name.size() - 12));
    if (kb) out.push_back(hugePageSizeName(*kb * 1024));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Stats readStats(const std::vector<CgroupDir>& dirs) {
  Stats s;
  std::map<std::string, UniqueFd> open;
  auto fdOf = [&](const CgroupDir& d) {
    auto& fd = open[d.path];
    if (!fd)
      fd = UniqueFd(SV_SYSCALL(::open(d.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC),
                               "cgroup '{}'", d.path));
    return fd.get();
  };
  const CgroupDir* v2 = nullptr;
  for (const auto& d : dirs)
    if (d.v2) v2 = &d;
  // The v1 hierarchy of a controller, else the cgroup2 directory.
  auto stat = [&](const char* controller, auto&& read) {
    if (const CgroupDir* d = v1Dir(dirs, controller))
      read(fdOf(*d), false);
    else if (v2)
      read(fdOf(*v2), true);
  };
  stat("pids", [&](int fd, bool isV2) { statPids(fd, isV2, s); });
  stat("memory", [&](int fd, bool isV2) { statMemory(fd, isV2, s); });
  stat("blkio", [&](int fd, bool isV2) { statBlkio(fd, isV2, s); });
  // v2 has usage and throttling in cpu.stat; v1 splits them over cpuacct and cpu.
  stat("cpuacct", [&](int fd, bool isV2) {
    if (isV2)
      statCpu(fd, true, s);
    else
      statCpuacct(fd, s);
  });
  if (const CgroupDir* d = v1Dir(dirs, "cpu")) statCpu(fdOf(*d), false, s);
  if (const CgroupDir* d = v1Dir(dirs, "cpuset")) statCpuset(fdOf(*d), s);
  if (const CgroupDir* d = v1Dir(dirs, "hugetlb")) {
    statHugetlb(fdOf(*d), false, hugePageSizes(), s);
  } else if (v2) {
    statHugetlb(fdOf(*v2), true, hugePageSizes(), s);
  }
  return s;
}

namespace {
using Json = nlohmann::ordered_json;

Json memoryEntryJson(const MemoryEntry& e) {
  Json j = Json::object();
  j["limit"] = e.limit;
  if (e.usage) j["usage"] = e.usage;
  if (e.max) j["max"] = e.max;
  j["failcnt"] = e.failcnt;
  return j;
}

void blkioJson(Json& j, const char* key, const std::vector<BlkioEntry>& list) {
  if (list.empty()) return;
  Json arr = Json::array();
  for (const auto& e : list) {
    Json o = Json::object();
    if (e.major) o["major"] = e.major;
    if (e.minor) o["minor"] = e.minor;
    if (!e.op.empty()) o["op"] = e.op;
    if (e.value) o["value"] = e.value;
    arr.push_back(std::move(o));
  }
  j[key] = std::move(arr);
}

Json cpuJson(const Stats::Cpu& c) {
  Json usage = Json::object();
  if (c.total) usage["total"] = c.total;
  if (!c.percpu.empty()) usage["percpu"] = c.percpu;
  if (!c.percpuKernel.empty()) usage["percpu_kernel"] = c.percpuKernel;
  if (!c.percpuUser.empty()) usage["percpu_user"] = c.percpuUser;
  usage["kernel"] = c.kernel;
  usage["user"] = c.user;
  Json throttling = Json::object();
  if (c.periods) throttling["periods"] = c.periods;
  if (c.throttledPeriods) throttling["throttledPeriods"] = c.throttledPeriods;
  if (c.throttledTime) throttling["throttledTime"] = c.throttledTime;
  Json j = Json::object();
  j["usage"] = std::move(usage);
  j["throttling"] = std::move(throttling);
  return j;
}

Json cpusetJson(const Stats::Cpuset& c) {
  Json j = Json::object();
  if (!c.cpus.empty()) j["cpus"] = c.cpus;
  j["cpu_exclusive"] = c.cpuExclusive;
  if (!c.mems.empty()) j["mems"] = c.mems;
  j["mem_hardwall"] = c.memHardwall;
  j["mem_exclusive"] = c.memExclusive;
  j["memory_migrate"] = c.memoryMigrate;
  j["memory_spread_page"] = c.memorySpreadPage;
  j["memory_spread_slab"] = c.memorySpreadSlab;
  j["memory_pressure"] = c.memoryPressure;
  j["sched_load_balance"] = c.schedLoadBalance;
  j["sched_relax_domain_level"] = c.schedRelaxDomainLevel;
  return j;
}

Json memoryJson(const Stats::Memory& m) {
  Json j = Json::object();
  if (m.cache) j["cache"] = m.cache;
  j["usage"] = memoryEntryJson(m.usage);
  j["swap"] = memoryEntryJson(m.swap);
  j["kernel"] = memoryEntryJson(m.kernel);
  j["kernelTCP"] = memoryEntryJson(m.kernelTCP);
  if (!m.raw.empty()) {
    Json raw = Json::object();
    for (const auto& [k, v] : m.raw) raw[k] = v;
    j["raw"] = std::move(raw);
  }
  return j;
}
}  // namespace

std::string statsEventJson(const std::string& id, const Stats& s) {
  Json data = Json::object();
  data["cpu"] = cpuJson(s.cpu);
  data["cpuset"] = cpusetJson(s.cpuset);
  data["memory"] = memoryJson(s.memory);
  Json pids = Json::object();
  if (s.pids.current) pids["current"] = s.pids.current;
  if (s.pids.limit) pids["limit"] = s.pids.limit;
  data["pids"] = std::move(pids);
  Json blkio = Json::object();
  blkioJson(blkio, "ioServiceBytesRecursive", s.blkio.serviceBytes);
  blkioJson(blkio, "ioServicedRecursive", s.blkio.serviced);
  blkioJson(blkio, "ioQueueRecursive", s.blkio.queued);
  blkioJson(blkio, "ioServiceTimeRecursive", s.blkio.serviceTime);
  blkioJson(blkio, "ioWaitTimeRecursive", s.blkio.waitTime);
  blkioJson(blkio, "ioMergedRecursive", s.blkio.merged);
  blkioJson(blkio, "ioTimeRecursive", s.blkio.time);
  blkioJson(blkio, "sectorsRecursive", s.blkio.sectors);
  data["blkio"] = std::move(blkio);
  Json hugetlb = Json::object();
  for (const auto& [size, e] : s.hugetlb) {
    Json h = Json::object();
    if (e.usage) h["usage"] = e.usage;
    if (e.max) h["max"] = e.max;
    h["failcnt"] = e.failcnt;
    hugetlb[size] = std::move(h);
  }
  data["hugetlb"] = std::move(hugetlb);
  data["intel_rdt"] = Json::object();
  data["network_interfaces"] = nullptr;
  Json event = Json::object();
  event["type"] = "stats";
  event["id"] = id;
  event["data"] = std::move(data);
  return event.dump();
}

}  // namespace sv::cg
