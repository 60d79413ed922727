// sysvisor-fs's renderers (fusefs/vfiles), cgroup parsers (fusefs/cgroup_view.h) and path
// registry (fusefs/registry.h), fed from fixtures: this machine's /proc text under
// fixtures/proc and cgroup directories of a limited and an unlimited container, v1 and v2,
// under fixtures/cgroup (see fixtures/cgroup/README).
#include <fmt/format.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "fusefs/cgroup_view.h"
#include "fusefs/registry.h"
#include "fusefs/sha1.h"
#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

using namespace sv::fs;

namespace {

std::string proc(const std::string& name) {
  return sv::readFile(SV_FIXTURES "/proc/" + name);
}

// The cgroup files of fixture directories: v1Dir for the v1 hierarchies, v2Dir for cgroup2
// ("" = that hierarchy is absent); names in `hidden` read as absent. Records every name asked.
struct FixtureCgroup {
  FixtureCgroup(std::string v1, std::string v2, std::set<std::string> hide = {})
      : v1Dir(std::move(v1)), v2Dir(std::move(v2)), hidden(std::move(hide)) {}

  std::string v1Dir, v2Dir;
  std::set<std::string> hidden;
  std::shared_ptr<std::vector<std::string>> asked = std::make_shared<std::vector<std::string>>();

  CgroupFiles files() const {
    return [*this](Hierarchy h, std::string_view name) -> std::optional<std::string> {
      asked->emplace_back(name);
      const std::string& dir = h == Hierarchy::kV1 ? v1Dir : v2Dir;
      if (dir.empty() || hidden.count(std::string(name))) return std::nullopt;
      return sv::readFileIfExists(SV_FIXTURES "/cgroup/" + dir + "/" + std::string(name));
    };
  }
  CgroupView view(unsigned parts = kAllParts) const { return parseCgroupView(files(), parts); }
};

FixtureCgroup v1() {
  return {"v1", ""};
}
FixtureCgroup v2() {
  return {"", "v2"};
}
FixtureCgroup v1Unlimited() {
  return {"v1-unlimited", ""};
}
FixtureCgroup v2Unlimited() {
  return {"", "v2-unlimited"};
}

// Cgroup files from literal text, for the cases the fixture directories do not cover.
CgroupFiles mapFiles(std::map<std::string, std::string> v1Files,
                     std::map<std::string, std::string> v2Files = {}) {
  return [=](Hierarchy h, std::string_view name) -> std::optional<std::string> {
    const auto& m = h == Hierarchy::kV1 ? v1Files : v2Files;
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

// "Key: 123 kB" lines → {Key: 123}.
std::map<std::string, uint64_t> meminfoValues(std::string_view text) {
  std::map<std::string, uint64_t> out;
  text::Lines lines(text);
  while (auto line = lines.next()) {
    auto kv = text::splitColon(*line);
    if (!kv) continue;
    if (auto v = text::leadingU64(kv->value)) out[std::string(kv->key)] = *v;
  }
  return out;
}

std::vector<std::string> linesOf(std::string_view text) {
  std::vector<std::string> out;
  text::Lines lines(text);
  while (auto line = lines.next()) out.emplace_back(*line);
  return out;
}

// Lines of `text` that start with prefix.
std::vector<std::string> grep(std::string_view text, std::string_view prefix) {
  std::vector<std::string> out;
  for (auto& l : linesOf(text)) {
    if (std::string_view(l).starts_with(prefix)) out.push_back(l);
  }
  return out;
}

std::string lineOf(std::string_view text, std::string_view prefix) {
  auto found = grep(text, prefix);
  REQUIRE(found.size() == 1);
  return found[0];
}

constexpr uint64_t kMiB = 1024 * 1024;

}  // namespace

// ---------------------------------------------------------------------------------------------
// cgroup parsers

TEST_CASE("cpu lists parse as the kernel prints them", "[vfiles]") {
  CHECK(parseCpuList("0-3,5,7-8\n") == std::vector<unsigned>{0, 1, 2, 3, 5, 7, 8});
  CHECK(parseCpuList("0\n") == std::vector<unsigned>{0});
  CHECK(parseCpuList("").empty());
  CHECK(parseCpuList("\n").empty());
  // Malformed ranges are skipped, the rest kept, sorted and unique.
  CHECK(parseCpuList("3,1-2,x,5-4,2,-1,7-") == std::vector<unsigned>{1, 2, 3});
  CHECK(parseCpuList("0-4000000000,1") == std::vector<unsigned>{1});
}

TEST_CASE("a v1 container's cgroup files parse into its limits and usage", "[vfiles]") {
  CgroupView cg = v1().view();
  REQUIRE(cg.memory);
  CHECK(cg.memory->limit == 256 * kMiB);
  CHECK(cg.memory->usage == 100 * kMiB);
  CHECK(cg.memory->swapLimit == 256 * kMiB);  // memsw 512 MiB - memory 256 MiB
  CHECK(cg.memory->swapUsage == 4 * kMiB);    // memsw usage - memory usage
  CHECK(cg.memory->stat.file == 32 * kMiB);
  CHECK(cg.memory->stat.anon == 60 * kMiB);
  CHECK(cg.memory->stat.inactiveFile == 16 * kMiB);
  CHECK_FALSE(cg.memory->stat.slabReclaimable);  // v1 reports no slab
  CHECK(cg.cpu.cpuset == std::vector<unsigned>{0});
  CHECK(cg.cpu.quotaUs == 50000u);
  CHECK(cg.cpu.periodUs == 100000u);
  REQUIRE(cg.cpu.total);
  CHECK(cg.cpu.total->user == 100);  // cpuacct.usage_all: 1 s user, 0.5 s system on cpu0
  CHECK(cg.cpu.total->system == 50);
  REQUIRE(cg.cpu.perCpu.size() == 2);
  CHECK(cg.cpu.perCpu[0].user == 100);
  CHECK(cg.cpu.perCpu[1].user == 0);
  REQUIRE(cg.io);
  REQUIRE(cg.io->count({254, 0}));
  const IoCounts& vda = cg.io->at({254, 0});
  CHECK(vda.readBytes == 4194304);
  CHECK(vda.writeBytes == 8388608);
  CHECK(vda.readOps == 120);
  CHECK(vda.writeOps == 64);
}

TEST_CASE("a v2 container's cgroup files parse into its limits and usage", "[vfiles]") {
  CgroupView cg = v2().view();
  REQUIRE(cg.memory);
  CHECK(cg.memory->limit == 256 * kMiB);
  CHECK(cg.memory->usage == 100 * kMiB);
  CHECK(cg.memory->swapLimit == 0u);
  CHECK(cg.memory->swapUsage == 0u);
  CHECK(cg.memory->stat.file == 32 * kMiB);
  CHECK(cg.memory->stat.slabReclaimable == 2 * kMiB);
  CHECK(cg.memory->stat.kernelStack == 393216u);
  CHECK(cg.cpu.cpuset == std::vector<unsigned>{0});
  CHECK(cg.cpu.quotaUs == 50000u);
  REQUIRE(cg.cpu.total);
  CHECK(cg.cpu.total->user == 150);  // 1.5 s
  CHECK(cg.cpu.total->system == 50);
  CHECK(cg.cpu.perCpu.empty());  // v2 has totals only
  REQUIRE(cg.io);
  CHECK(cg.io->at({254, 0}).writeOps == 64);
  CHECK(cg.io->at({8, 16}).readBytes == 512);
}

TEST_CASE("unlimited values parse as nullopt on v1 and v2", "[vfiles]") {
  for (const auto& fixture : {v1Unlimited(), v2Unlimited()}) {
    INFO(fixture.v1Dir + fixture.v2Dir);
    CgroupView cg = fixture.view();
    REQUIRE(cg.memory);
    CHECK_FALSE(cg.memory->limit);
    CHECK_FALSE(cg.memory->swapLimit);
    CHECK(cg.memory->usage == 50 * kMiB);
    CHECK(cg.cpu.cpuset == std::vector<unsigned>{0, 1});
    CHECK_FALSE(cg.cpu.quotaUs);
    REQUIRE(cg.cpu.total);
    CHECK(cg.cpu.total->user + cg.cpu.total->system == 400);
  }
  // Without cpuacct.usage_all, each CPU's busy time is split by cpuacct.stat's user:system.
  CgroupView cg = v1Unlimited().view();
  REQUIRE(cg.cpu.perCpu.size() == 2);
  CHECK(cg.cpu.perCpu[0].user == 225);
  CHECK(cg.cpu.perCpu[0].system == 75);
  CHECK(cg.cpu.perCpu[1].user == 75);
  CHECK(cg.cpu.perCpu[1].system == 25);
}

TEST_CASE("a hybrid host takes each value from v1 when there, else from cgroup2", "[vfiles]") {
  // v1 memory, cpu and cpuset, no cpuacct hierarchy; the cgroup2 side has only cpu.stat.
  FixtureCgroup hybrid{
      "v1",
      "hybrid-unified",
      {"cpuacct.stat", "cpuacct.usage", "cpuacct.usage_all", "cpuacct.usage_percpu"}};
  CgroupView cg = hybrid.view();
  REQUIRE(cg.memory);
  CHECK(cg.memory->limit == 256 * kMiB);
  CHECK(cg.cpu.quotaUs == 50000u);
  REQUIRE(cg.cpu.total);
  CHECK(cg.cpu.total->user == 600);  // cgroup2 cpu.stat user_usec 6 s
  CHECK(cg.cpu.total->system == 300);
  // With cpuacct present, v1 wins over cgroup2's cpu.stat.
  CgroupView both = FixtureCgroup{"v1", "hybrid-unified"}.view();
  CHECK(both.cpu.total->user == 100);
  // Memory only in cgroup2.
  CgroupView v2mem = parseCgroupView(
      mapFiles({{"cpu.cfs_quota_us", "-1"}}, {{"memory.current", "4096"}, {"memory.max", "8192"}}));
  REQUIRE(v2mem.memory);
  CHECK(v2mem.memory->limit == 8192u);
  CHECK_FALSE(v2mem.cpu.quotaUs);
}

TEST_CASE("v1 limits take the ancestors' and swappiness into account", "[vfiles]") {
  std::map<std::string, std::string> files = {
      {"memory.limit_in_bytes", "9223372036854771712\n"},
      {"memory.usage_in_bytes", "1048576\n"},
      {"memory.memsw.limit_in_bytes", "9223372036854771712\n"},
      {"memory.memsw.usage_in_bytes", "1048576\n"},
      {"memory.stat",
       "hierarchical_memory_limit 134217728\n"
       "hierarchical_memsw_limit 201326592\n"}};
  auto m = parseMemory(mapFiles(files));
  REQUIRE(m);
  CHECK(m->limit == 128 * kMiB);       // a parent's limit applies to the container
  CHECK(m->swapLimit == 64 * kMiB);    // 192 MiB memsw - 128 MiB
  files["memory.swappiness"] = "0\n";  // this cgroup never swaps
  CHECK(parseMemory(mapFiles(files))->swapLimit == 0u);
  // Swap accounting off (no memsw files): swap is not limited.
  auto noMemsw =
      parseMemory(mapFiles({{"memory.usage_in_bytes", "1"}, {"memory.limit_in_bytes", "4096"}}));
  REQUIRE(noMemsw);
  CHECK_FALSE(noMemsw->swapLimit);
  CHECK_FALSE(noMemsw->swapUsage);
  // No memory files at all: no view, and odd text is not a value.
  CHECK_FALSE(parseMemory(mapFiles({})));
  CHECK_FALSE(parseMemory(mapFiles({{"memory.usage_in_bytes", "lots"}})));
  CHECK_FALSE(parseMemory(mapFiles({}, {{"memory.current", ""}})));
}

TEST_CASE("cpu quota and cpuset parse on v1 and v2, odd text ignored", "[vfiles]") {
  CHECK_FALSE(
      parseCpu(mapFiles({{"cpu.cfs_quota_us", "-1"}, {"cpu.cfs_period_us", "100000"}})).quotaUs);
  CHECK_FALSE(parseCpu(mapFiles({}, {{"cpu.max", "max 100000\n"}})).quotaUs);
  CpuView v2cpu = parseCpu(mapFiles({}, {{"cpu.max", "150000 50000\n"}}));
  CHECK(v2cpu.quotaUs == 150000u);
  CHECK(v2cpu.periodUs == 50000u);
  CHECK_FALSE(parseCpu(mapFiles({}, {{"cpu.max", "garbage"}})).quotaUs);
  CHECK_FALSE(parseCpu(mapFiles({}, {{"cpu.max", "0 100000"}})).quotaUs);
  // cpuset.effective_cpus wins over cpuset.cpus; an empty cpuset means none configured.
  CHECK(parseCpu(mapFiles({{"cpuset.effective_cpus", "2-3"}, {"cpuset.cpus", "0-7"}})).cpuset ==
        std::vector<unsigned>{2, 3});
  CHECK(parseCpu(mapFiles({{"cpuset.cpus", "1,3"}})).cpuset == std::vector<unsigned>{1, 3});
  CHECK_FALSE(parseCpu(mapFiles({{"cpuset.cpus", "\n"}})).cpuset);
  // Parts not asked for are not read.
  FixtureCgroup f = v1();
  CpuView limitsOnly = parseCpu(f.files(), kCpuLimitsPart);
  CHECK_FALSE(limitsOnly.total);
  for (const auto& name : *f.asked) CHECK_FALSE(std::string_view(name).starts_with("cpuacct"));
}

TEST_CASE("visible CPUs: cpuset within the host's, cut to the quota", "[vfiles]") {
  std::vector<unsigned> host{0, 1, 2, 3};
  CpuView cpu;
  CHECK(visibleCpus(cpu, host) == host);
  cpu.cpuset = std::vector<unsigned>{1, 3, 9};
  CHECK(visibleCpus(cpu, host) == std::vector<unsigned>{1, 3});
  cpu.quotaUs = 50000;  // half a CPU still shows one
  CHECK(visibleCpus(cpu, host) == std::vector<unsigned>{1});
  cpu.cpuset.reset();
  cpu.quotaUs = 150000;  // 1.5 CPUs: two
  CHECK(visibleCpus(cpu, host) == std::vector<unsigned>{0, 1});
  cpu.quotaUs = 800000;  // more quota than CPUs
  CHECK(visibleCpus(cpu, host) == host);
  cpu.quotaUs.reset();
  cpu.cpuset = std::vector<unsigned>{7};  // no overlap (odd): the host's CPUs
  CHECK(visibleCpus(cpu, host) == host);
}

// ---------------------------------------------------------------------------------------------
// meminfo

TEST_CASE("meminfo of a 256 MiB v1 container", "[vfiles]") {
  std::string host = proc("meminfo");
  std::string out = renderMeminfo(host, v1().view(kMemoryPart));
  auto v = meminfoValues(out);
  CHECK(lineOf(out, "MemTotal:") == "MemTotal:         262144 kB");
  CHECK(v["MemFree"] == 262144 - 102400);  // limit - usage
  CHECK(v["Buffers"] == 0);
  CHECK(v["Cached"] == 32768);  // total_cache
  CHECK(v["Active(file)"] == 12288);
  CHECK(v["Inactive(file)"] == 16384);
  CHECK(v["Active"] == 20480 + 12288);
  CHECK(v["Inactive"] == 45056 + 16384);
  CHECK(v["Shmem"] == 4096);
  CHECK(v["AnonPages"] == 61440);
  CHECK(v["MemAvailable"] == 159744 + 12288 + 16384);  // free + file LRU
  CHECK(v["Slab"] == 0);  // v1 has no slab figures; the host's would count as cache
  CHECK(v["SReclaimable"] == 0);
  CHECK(lineOf(out, "Inactive(anon):") == "Inactive(anon):    45056 kB");
  // `free`: used = total - free - buffers - (cached + SReclaimable) = usage - page cache.
  uint64_t used = v["MemTotal"] - v["MemFree"] - v["Buffers"] - v["Cached"] - v["SReclaimable"];
  CHECK(used == 102400 - 32768);
  CHECK(v["MemAvailable"] >= v["MemFree"]);
  CHECK(v["MemAvailable"] <= v["MemTotal"]);
  // Host without swap: the container's swap limit cannot create any.
  CHECK(v["SwapTotal"] == 0);
  CHECK(v["SwapFree"] == 0);
  // Every line is still there, in order; lines without a container figure are the host's.
  auto hostLines = linesOf(host), outLines = linesOf(out);
  REQUIRE(outLines.size() == hostLines.size());
  for (size_t i = 0; i < hostLines.size(); ++i) {
    CHECK(outLines[i].substr(0, outLines[i].find(':')) ==
          hostLines[i].substr(0, hostLines[i].find(':')));
  }
  CHECK(lineOf(out, "VmallocTotal:") == lineOf(host, "VmallocTotal:"));
  CHECK(lineOf(out, "HugePages_Total:") == lineOf(host, "HugePages_Total:"));
  CHECK(lineOf(out, "KernelStack:") == lineOf(host, "KernelStack:"));  // unknown on v1
  CHECK(out.back() == '\n');
}

TEST_CASE("meminfo of a v1 container on a host with swap", "[vfiles]") {
  std::string out = renderMeminfo(proc("meminfo.swap"), v1().view(kMemoryPart));
  auto v = meminfoValues(out);
  CHECK(lineOf(out, "SwapTotal:") == "SwapTotal:        262144 kB");  // memsw - memory
  CHECK(v["SwapFree"] == 262144 - 4096);  // minus the container's 4 MiB of swap
  // A swap limit above what the host has left: never more free than the host's.
  auto files = mapFiles({{"memory.usage_in_bytes", "0"},
                         {"memory.limit_in_bytes", "1073741824"},
                         {"memory.memsw.limit_in_bytes", "9663676416"},  // 8 GiB of swap
                         {"memory.memsw.usage_in_bytes", "0"}});
  auto big = meminfoValues(renderMeminfo(proc("meminfo.swap"), parseCgroupView(files)));
  CHECK(big["SwapTotal"] == 2097148);
  CHECK(big["SwapFree"] == 1572860);
}

TEST_CASE("meminfo of a 256 MiB v2 container", "[vfiles]") {
  std::string out = renderMeminfo(proc("meminfo.swap"), v2().view(kMemoryPart));
  auto v = meminfoValues(out);
  CHECK(v["MemTotal"] == 262144);
  CHECK(v["MemFree"] == 159744);
  CHECK(v["Cached"] == 32768);
  CHECK(v["SReclaimable"] == 2048);
  CHECK(v["SUnreclaim"] == 1024);
  CHECK(v["Slab"] == 3072);
  CHECK(v["KReclaimable"] == 2048);
  CHECK(v["KernelStack"] == 384);
  CHECK(v["PageTables"] == 1024);
  CHECK(v["MemAvailable"] == 159744 + 12288 + 16384 + 2048);
  uint64_t used = v["MemTotal"] - v["MemFree"] - v["Buffers"] - v["Cached"] - v["SReclaimable"];
  CHECK(used == 102400 - 32768 - 2048);
  // memory.swap.max 0: no swap, whatever the host has.
  CHECK(v["SwapTotal"] == 0);
  CHECK(v["SwapFree"] == 0);
}

TEST_CASE("meminfo of an unlimited container is the host's", "[vfiles]") {
  for (const char* hostFile : {"meminfo", "meminfo.swap"}) {
    std::string host = proc(hostFile);
    for (const auto& fixture : {v1Unlimited(), v2Unlimited()}) {
      INFO(hostFile << " " << fixture.v1Dir << fixture.v2Dir);
      CHECK(renderMeminfo(host, fixture.view(kMemoryPart)) == host);
    }
    CHECK(renderMeminfo(host, CgroupView{}) == host);  // no memory controller
  }
}

TEST_CASE("meminfo: a limit above the host's memory shows the host's", "[vfiles]") {
  auto files = mapFiles({}, {{"memory.current", "104857600"}, {"memory.max", "107374182400"}});
  std::string host = proc("meminfo");
  auto v = meminfoValues(renderMeminfo(host, parseCgroupView(files)));
  CHECK(v["MemTotal"] == meminfoValues(host)["MemTotal"]);
  CHECK(v["MemFree"] == v["MemTotal"] - 102400);
}

TEST_CASE("meminfo never throws on odd host text", "[vfiles]") {
  CgroupView cg = v1().view();
  CHECK(renderMeminfo("", cg).empty());
  // No MemTotal: nothing to cap, the text stays the host's.
  CHECK(renderMeminfo("garbage\nMemFree: x kB\n", cg) == "garbage\nMemFree: x kB\n");
  std::string odd = "MemTotal: 1000000 kB\nweird line\nMemFree: notanumber kB\nCached: 5\n";
  std::string out = renderMeminfo(odd, cg);
  CHECK(lineOf(out, "MemTotal:") == "MemTotal:         262144 kB");
  CHECK(lineOf(out, "weird") == "weird line");
  CHECK(lineOf(out, "Cached:") == "Cached: 5");  // not a kB line: kept
}

// ---------------------------------------------------------------------------------------------
// cpuinfo

TEST_CASE("cpuinfo of a container with cpuset 0 and half a CPU shows one processor", "[vfiles]") {
  std::string host = proc("cpuinfo");
  for (const auto& fixture : {v1(), v2()}) {
    INFO(fixture.v1Dir + fixture.v2Dir);
    std::string out = renderCpuinfo(host, fixture.view(kCpuLimitsPart));
    CHECK(grep(out, "processor").size() == 1);
    // Exactly the host's first block, blank line included.
    CHECK(out == host.substr(0, host.find("\n\n") + 2));
  }
}

TEST_CASE("cpuinfo renumbers the container's CPUs from 0", "[vfiles]") {
  std::string host = proc("cpuinfo");
  CgroupView cg;
  cg.cpu.cpuset = std::vector<unsigned>{1};
  std::string out = renderCpuinfo(host, cg);
  CHECK(grep(out, "processor") == std::vector<std::string>{"processor\t: 0"});
  CHECK(lineOf(out, "apicid") == "apicid\t\t: 1");  // the host's cpu1
  CHECK(out.ends_with("\n\n"));
  // 1.5 CPUs of quota on the two host CPUs: both, in order.
  cg.cpu.cpuset.reset();
  cg.cpu.quotaUs = 150000;
  CHECK(grep(renderCpuinfo(host, cg), "processor") ==
        std::vector<std::string>{"processor\t: 0", "processor\t: 1"});
}

TEST_CASE("cpuinfo of an unlimited container is the host's", "[vfiles]") {
  std::string host = proc("cpuinfo");
  CHECK(renderCpuinfo(host, v1Unlimited().view(kCpuLimitsPart)) == host);
  CHECK(renderCpuinfo(host, v2Unlimited().view(kCpuLimitsPart)) == host);
  CHECK(renderCpuinfo(host, CgroupView{}) == host);
  // Odd text: no processor lines at all, nothing to filter.
  CHECK(renderCpuinfo("Hardware : x\n", v1().view()) == "Hardware : x\n");
}

// ---------------------------------------------------------------------------------------------
// stat

// The host fixture's cpu0 line is "cpu0 212920 0 22152 191318 182 0 212 353 0 0": 427137 ticks
// elapsed (user..steal; guest is inside user). cpu1: 427104.
constexpr uint64_t kCpu0Elapsed = 427137, kCpu1Elapsed = 427104;

TEST_CASE("stat of a v1 container on cpu0 shows its own CPU time", "[vfiles]") {
  std::string host = proc("stat");
  std::string out = renderStat(host, v1().view());
  CHECK(grep(out, "cpu") ==
        std::vector<std::string>{fmt::format("cpu  100 0 50 {} 0 0 0 0 0 0", kCpu0Elapsed - 150),
                                 fmt::format("cpu0 100 0 50 {} 0 0 0 0 0 0", kCpu0Elapsed - 150)});
  // Everything else is the host's, in the host's order.
  auto isCpu = [](const std::string& l) { return l.starts_with("cpu"); };
  std::vector<std::string> hostRest, outRest;
  for (auto& l : linesOf(host))
    if (!isCpu(l)) hostRest.push_back(l);
  for (auto& l : linesOf(out))
    if (!isCpu(l)) outRest.push_back(l);
  CHECK(outRest == hostRest);
  CHECK(lineOf(out, "btime") == lineOf(host, "btime"));
  CHECK(linesOf(out)[0].starts_with("cpu  "));
}

TEST_CASE("stat of a v2 container spreads its totals over the shown CPUs", "[vfiles]") {
  std::string host = proc("stat");
  CHECK(grep(renderStat(host, v2().view()), "cpu") ==
        std::vector<std::string>{fmt::format("cpu  150 0 50 {} 0 0 0 0 0 0", kCpu0Elapsed - 200),
                                 fmt::format("cpu0 150 0 50 {} 0 0 0 0 0 0", kCpu0Elapsed - 200)});
  // All host CPUs, 3 s user and 1 s system: half each.
  CHECK(grep(renderStat(host, v2Unlimited().view()), "cpu") ==
        std::vector<std::string>{
            fmt::format("cpu  300 0 100 {} 0 0 0 0 0 0", kCpu0Elapsed + kCpu1Elapsed - 400),
            fmt::format("cpu0 150 0 50 {} 0 0 0 0 0 0", kCpu0Elapsed - 200),
            fmt::format("cpu1 150 0 50 {} 0 0 0 0 0 0", kCpu1Elapsed - 200)});
}

TEST_CASE("stat of a v1 container uses its per-CPU time", "[vfiles]") {
  std::string host = proc("stat");
  CHECK(grep(renderStat(host, v1Unlimited().view()), "cpu") ==
        std::vector<std::string>{
            fmt::format("cpu  300 0 100 {} 0 0 0 0 0 0", kCpu0Elapsed + kCpu1Elapsed - 400),
            fmt::format("cpu0 225 0 75 {} 0 0 0 0 0 0", kCpu0Elapsed - 300),
            fmt::format("cpu1 75 0 25 {} 0 0 0 0 0 0", kCpu1Elapsed - 100)});
  // Shown only host cpu1: it is cpu0 inside, and the time spent on hidden cpu0 lands on it.
  CgroupView cg = v1().view();
  cg.cpu.cpuset = std::vector<unsigned>{1};
  CHECK(grep(renderStat(host, cg), "cpu") ==
        std::vector<std::string>{fmt::format("cpu  100 0 50 {} 0 0 0 0 0 0", kCpu1Elapsed - 150),
                                 fmt::format("cpu0 100 0 50 {} 0 0 0 0 0 0", kCpu1Elapsed - 150)});
}

TEST_CASE("stat without CPU time from the cgroup shows the host's lines, renumbered", "[vfiles]") {
  std::string host = proc("stat");
  CHECK(renderStat(host, CgroupView{}) == host);
  CgroupView cg;
  cg.cpu.cpuset = std::vector<unsigned>{1};
  std::string cpu1 = lineOf(host, "cpu1 ").substr(4);
  CHECK(grep(renderStat(host, cg), "cpu") ==
        std::vector<std::string>{"cpu " + cpu1, "cpu0" + cpu1});
  CHECK(renderStat("intr 1 2\nbogus\n", cg) == "intr 1 2\nbogus\n");
}

TEST_CASE("stat: CPU time never runs backwards as the container's usage grows", "[vfiles]") {
  // Four shown CPUs, totals only: each CPU's share must not shrink when the total grows.
  std::string host =
      "cpu  0 0 0 0\ncpu0 0 0 0 4000\ncpu1 0 0 0 4000\ncpu2 0 0 0 4000\n"
      "cpu3 0 0 0 4000\n";
  std::vector<uint64_t> before(4, 0);
  for (uint64_t total = 0; total < 30; ++total) {
    CgroupView cg;
    cg.cpu.total = CpuTimes{total, 0};
    auto lines = grep(renderStat(host, cg), "cpu");
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == fmt::format("cpu  {} 0 0 {}", total, 16000 - total));
    for (size_t k = 0; k < 4; ++k) {
      uint64_t user = std::stoull(lines[k + 1].substr(5));
      CHECK(user >= before[k]);
      before[k] = user;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// uptime and loadavg

TEST_CASE("uptime counts from the container's start", "[vfiles]") {
  std::vector<unsigned> hostCpus{0, 1};
  // Host up 4281.29 s; the container started 420000 ticks (4200 s) after boot; it used 2 s
  // of CPU on one shown CPU (v2 fixture).
  CHECK(renderUptime(proc("uptime"), 420000, v2().view(), hostCpus) == "81.29 79.29\n");
  // Without CPU time: the host's idle share (here half), over the container's life and CPUs.
  CHECK(renderUptime("100.00 100.00\n", 5000, CgroupView{}, hostCpus) == "50.00 50.00\n");
  CgroupView oneCpu;
  oneCpu.cpu.cpuset = std::vector<unsigned>{0};
  CHECK(renderUptime("100.00 100.00\n", 5000, oneCpu, hostCpus) == "50.00 25.00\n");
  // Idle counts every shown CPU, as the kernel's does.
  CgroupView twoCpus;
  twoCpus.cpu.total = CpuTimes{100, 0};
  CHECK(renderUptime("100.00 0\n", 0, twoCpus, hostCpus) == "100.00 199.00\n");
  // Kernel format: two decimals, cut not rounded; a start after "now" is age 0.
  CHECK(renderUptime("12.349 0.00\n", 0, CgroupView{}, hostCpus) == "12.34 0.00\n");
  CHECK(renderUptime("12.34 1.00\n", 5000, twoCpus, hostCpus) == "0.00 0.00\n");
  CHECK(renderUptime("7 3\n", 100, CgroupView{}, hostCpus) == "6.00 2.57\n");
  // Odd host text is passed on rather than invented.
  CHECK(renderUptime("", 0, CgroupView{}, hostCpus).empty());
  CHECK(renderUptime("x y\n", 0, CgroupView{}, {}) == "x y\n");
  CHECK(renderUptime("1.x0 2\n", 0, CgroupView{}, {}) == "1.x0 2\n");
}

TEST_CASE("loadavg prints the kernel's format", "[vfiles]") {
  CHECK(renderLoadavg({0.0, 0.014, 0.05, 1, 123, 4567}) == "0.00 0.01 0.05 1/123 4567\n");
  CHECK(renderLoadavg({2.68, 12.346, 0.996, 5, 152, 1132}) == "2.68 12.35 1.00 5/152 1132\n");
  CHECK(renderLoadavg({-1.0, std::nan(""), 1e3, 0, 1, 1}) == "0.00 0.00 1000.00 0/1 1\n");
  CHECK(renderLoadavg({}) == "0.00 0.00 0.00 0/0 0\n");
}

// ---------------------------------------------------------------------------------------------
// swaps and diskstats

TEST_CASE("swaps: header only for a container without swap", "[vfiles]") {
  std::string host = proc("swaps.device");
  std::string header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
  CHECK(renderSwaps(host, v2().view(kMemoryPart)) == header);  // memory.swap.max 0
  CHECK(renderSwaps(host, v1().view(kMemoryPart)) == host);    // 256 MiB of swap allowed
  CHECK(renderSwaps(host, v1Unlimited().view(kMemoryPart)) == host);
  CHECK(renderSwaps(host, v2Unlimited().view(kMemoryPart)) == host);
  CHECK(renderSwaps(host, CgroupView{}) == host);
  CHECK(renderSwaps(proc("swaps"), v2().view(kMemoryPart)) == proc("swaps"));
  CHECK(renderSwaps("", v2().view(kMemoryPart)) == header);
  CHECK(renderSwaps("", CgroupView{}) == header);
}

TEST_CASE("diskstats shows the container's I/O on the host's devices", "[vfiles]") {
  std::string host = proc("diskstats");
  for (const auto& fixture : {v1(), v2()}) {
    INFO(fixture.v1Dir + fixture.v2Dir);
    std::string out = renderDiskstats(host, fixture.view(kIoPart));
    // 120 reads of 4 MiB (8192 sectors), 64 writes of 8 MiB; 17 columns like the host's line.
    CHECK(lineOf(out, " 254       0 vda ") ==
          " 254       0 vda 120 0 8192 0 64 0 16384 0 0 0 0 0 0 0 0 0 0");
    CHECK(lineOf(out, "   7       0 loop0 ") ==
          "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
    // Every host device stays listed, and nothing the host lacks (8:16) appears.
    CHECK(linesOf(out).size() == linesOf(host).size());
    CHECK(grep(out, "   8").empty());
  }
  // A container that touched no device shows zeros everywhere.
  std::string idle = renderDiskstats(host, v1Unlimited().view(kIoPart));
  CHECK(lineOf(idle, " 254       0 vda ") == " 254       0 vda 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
  // No I/O statistics: the host's text.
  CHECK(renderDiskstats(host, CgroupView{}) == host);
  // Odd lines are kept, short (old kernel) lines keep their width.
  IoView io{{{8, 0}, IoCounts{1024, 0, 2, 0, 0, 0}}};
  CgroupView cg;
  cg.io = io;
  CHECK(renderDiskstats("junk\n   8       0 sda 5 5 5 5 5 5 5 5 5 5 5\n", cg) ==
        "junk\n   8       0 sda 2 0 2 0 0 0 0 0 0 0 0\n");
}

// ---------------------------------------------------------------------------------------------
// product_uuid

TEST_CASE("SHA-1 matches the FIPS 180 test vectors", "[vfiles]") {
  auto hex = [](const Sha1::Digest& d) {
    std::string s;
    for (uint8_t b : d) s += fmt::format("{:02x}", b);
    return s;
  };
  CHECK(hex(Sha1::of("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(Sha1::of("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(Sha1::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  // Padding edges: 55, 56 and 64 bytes; and a message fed in pieces.
  CHECK(hex(Sha1::of(std::string(55, 'a'))) == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  CHECK(hex(Sha1::of(std::string(56, 'a'))) == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  CHECK(hex(Sha1::of(std::string(64, 'a'))) == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  Sha1 h;
  for (int i = 0; i < 1000; ++i) h.update(std::string(1000, 'a'));
  CHECK(hex(h.finish()) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("product_uuid: stable per container, different between containers", "[vfiles]") {
  // RFC 4122 version 5 (Python's uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")).
  CHECK(renderProductUuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8\n", "python.org") ==
        "886313e1-3b8a-5372-9b90-0c9aee199e5d\n");
  std::string host = "4C4C4544-0042-3510-8052-B4C04F4E3332\n";
  std::string a = renderProductUuid(host, "c1");
  CHECK(a == renderProductUuid(host, "c1"));
  CHECK(a != renderProductUuid(host, "c2"));
  CHECK(a != renderProductUuid("4c4c4544-0042-3510-8052-b4c04f4e3333", "c1"));  // another host
  CHECK(a == renderProductUuid("4c4c4544-0042-3510-8052-b4c04f4e3332", "c1"));  // case of host
  std::regex format("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$");
  CHECK(std::regex_match(a, format));
  // A machine-id, odd text or nothing as the host's identity still works.
  for (const char* id : {"0123456789abcdef0123456789abcdef\n", "not a uuid", ""}) {
    INFO(id);
    std::string u = renderProductUuid(id, "c1");
    CHECK(std::regex_match(u, format));
    CHECK(u != renderProductUuid(id, "c2"));
  }
  CHECK(renderProductUuid("not a uuid", "c1") != renderProductUuid("", "c1"));
}

// ---------------------------------------------------------------------------------------------
// registry

TEST_CASE("registry lookup: exact path, then the longest subtree", "[vfiles]") {
  Registry r(emulatedEntries());
  Lookup meminfo = r.lookup("/proc/meminfo");
  REQUIRE(meminfo.kind == Lookup::kEntry);
  CHECK(meminfo.entry->path == "/proc/meminfo");
  CHECK(meminfo.entry->mode == (S_IFREG | 0444));
  CHECK(meminfo.entry->render != nullptr);
  CHECK(meminfo.entry->write == nullptr);
  CHECK(r.lookup("/proc/meminfo/").entry == meminfo.entry);

  Lookup panic = r.lookup("/proc/sys/kernel/panic");
  REQUIRE(panic.kind == Lookup::kEntry);
  CHECK(panic.entry->path == "/proc/sys");
  CHECK(panic.rest == "kernel/panic");
  Lookup sys = r.lookup("/proc/sys");
  CHECK(sys.entry == panic.entry);
  CHECK(sys.rest.empty());

  CHECK(r.lookup("/").kind == Lookup::kImplicit);
  CHECK(r.lookup("/proc").kind == Lookup::kImplicit);
  CHECK(r.lookup("/sys/devices/virtual/dmi").kind == Lookup::kImplicit);
  CHECK(r.lookup("/sys/devices/virtual/dmi/id/product_uuid").entry->mode == (S_IFREG | 0400));
  CHECK(r.lookup("/sys/kernel/debug").entry->mode == (S_IFDIR | 0700));
  for (const char* missing : {"/proc/nope", "/procx", "/proc/meminfox", "/sys/kernel/debug/x",
                              "/proc/meminfo/x", "proc/meminfo", "", "/sys/kernel/mm"}) {
    INFO(missing);
    CHECK(r.lookup(missing).kind == Lookup::kNone);
  }
}

TEST_CASE("registry: nested subtrees resolve to the longest, entries beat implied dirs",
          "[vfiles]") {
  const Entry table[] = {
      {"/a", S_IFDIR | 0555, Scope::kSubtree, nullptr, nullptr, {}},
      {"/a/b", S_IFDIR | 0500, Scope::kSubtree, nullptr, nullptr, Range{0, 10}},
      {"/a/b/c/f", S_IFREG | 0444, Scope::kPath, nullptr, nullptr, {}},
      {"/x/y/z", S_IFREG | 0444, Scope::kPath, nullptr, nullptr, {}},
  };
  Registry r(table);
  CHECK(r.lookup("/a/b/c").entry == &table[1]);
  CHECK(r.lookup("/a/b/c").rest == "c");
  CHECK(r.lookup("/a/q").entry == &table[0]);
  CHECK(r.lookup("/a/b/c/f").entry == &table[2]);  // exact first
  CHECK(r.readdir("/a") == std::vector<DirEntry>{{"b", S_IFDIR | 0500}});
  CHECK(r.readdir("/x") == std::vector<DirEntry>{{"y", kImplicitDirMode}});
  CHECK(r.readdir("/") == std::vector<DirEntry>{{"a", S_IFDIR | 0555}, {"x", kImplicitDirMode}});
}

TEST_CASE("registry readdir lists the table", "[vfiles]") {
  Registry r(emulatedEntries());
  CHECK(r.readdir("/") ==
        std::vector<DirEntry>{{"proc", kImplicitDirMode}, {"sys", kImplicitDirMode}});
  constexpr mode_t file = S_IFREG | 0444;
  CHECK(r.readdir("/proc") == std::vector<DirEntry>{{"cpuinfo", file},
                                                    {"diskstats", file},
                                                    {"loadavg", file},
                                                    {"meminfo", file},
                                                    {"stat", file},
                                                    {"swaps", file},
                                                    {"sys", S_IFDIR | 0555},
                                                    {"uptime", file}});
  CHECK(r.readdir("/sys/kernel") == std::vector<DirEntry>{{"config", S_IFDIR | 0755},
                                                          {"debug", S_IFDIR | 0700},
                                                          {"security", S_IFDIR | 0755},
                                                          {"tracing", S_IFDIR | 0700}});
  CHECK(r.readdir("/sys/devices/virtual/dmi/id") ==
        std::vector<DirEntry>{{"product_uuid", S_IFREG | 0400}});
  CHECK(r.readdir("/sys/kernel/debug") == std::vector<DirEntry>{});  // empty on purpose
  CHECK(r.readdir("/proc/sys") == std::vector<DirEntry>{});          // its handler lists the knobs
  CHECK_FALSE(r.readdir("/proc/meminfo"));
  CHECK_FALSE(r.readdir("/nope"));
  // Every file of the table renders; only /proc/sys (the sysctl handler's) does not yet.
  for (const Entry& e : emulatedEntries()) {
    INFO(e.path);
    CHECK((e.render != nullptr) == S_ISREG(e.mode));
  }
}

namespace {

// RenderInputs over the fixtures, recording what was asked.
class FixtureInputs : public RenderInputs {
 public:
  FixtureInputs(FixtureCgroup cg, ContainerInfo info)
      : cg_(cg), files_(cg.files()), info_(std::move(info)) {}
  std::string_view host(HostFile f) const override {
    hostAsked.push_back(f);
    if (!texts.count(f)) {
      std::string name(hostPath(f).substr(hostPath(f).rfind('/') + 1));
      texts[f] = sv::readFileIfExists(SV_FIXTURES "/proc/" + name).value_or("");
    }
    return texts[f];
  }
  const CgroupFiles& cgroupFiles() const override { return files_; }
  const ContainerInfo& container() const override { return info_; }
  LoadAvg load() const override { return {0.5, 0.25, 0.125, 1, 7, 42}; }
  const std::vector<std::string>& cgroupAsked() const { return *cg_.asked; }

  mutable std::map<HostFile, std::string> texts;
  mutable std::vector<HostFile> hostAsked;

 private:
  FixtureCgroup cg_;
  CgroupFiles files_;
  ContainerInfo info_;
};

std::string renderPath(const RenderInputs& in, std::string_view path) {
  Lookup l = Registry(emulatedEntries()).lookup(path);
  REQUIRE(l.kind == Lookup::kEntry);
  REQUIRE(l.entry->render);
  return l.entry->render(in);
}

}  // namespace

TEST_CASE("registry renders read only the inputs their file needs", "[vfiles]") {
  FixtureInputs in(v1(), {"c1", 400000});
  in.texts[HostFile::kCpusOnline] = "0-1\n";
  CHECK(meminfoValues(renderPath(in, "/proc/meminfo"))["MemTotal"] == 262144);
  CHECK(in.hostAsked == std::vector<HostFile>{HostFile::kMeminfo});
  for (const auto& name : in.cgroupAsked()) CHECK(std::string_view(name).starts_with("memory."));

  FixtureInputs up(v2(), {"c1", 420000});
  up.texts[HostFile::kCpusOnline] = "0-1\n";
  CHECK(renderPath(up, "/proc/uptime") == "81.29 79.29\n");
  for (const auto& name : up.cgroupAsked()) {
    INFO(name);
    CHECK_FALSE(std::string_view(name).starts_with("memory."));
    CHECK_FALSE(std::string_view(name).starts_with("io."));
  }
  CHECK(grep(renderPath(up, "/proc/cpuinfo"), "processor").size() == 1);
  CHECK(lineOf(renderPath(up, "/proc/stat"), "cpu0").starts_with("cpu0 150 0 50 "));
  CHECK(renderPath(up, "/proc/loadavg") == "0.50 0.25 0.13 1/7 42\n");
  CHECK(renderPath(up, "/proc/swaps") == proc("swaps"));
  CHECK(lineOf(renderPath(up, "/proc/diskstats"), " 254").find(" vda 120 ") != std::string::npos);
}

TEST_CASE("registry product_uuid falls back to the machine-id", "[vfiles]") {
  FixtureInputs in(v1(), {"c1", 0});
  in.texts[HostFile::kProductUuid] = "";
  in.texts[HostFile::kMachineId] = "0123456789abcdef0123456789abcdef\n";
  std::string path = "/sys/devices/virtual/dmi/id/product_uuid";
  CHECK(renderPath(in, path) == renderProductUuid("0123456789abcdef0123456789abcdef", "c1"));
  in.texts[HostFile::kProductUuid] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8\n";
  CHECK(renderPath(in, path) == renderProductUuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "c1"));
  CHECK(hostPath(HostFile::kMachineId) == "/etc/machine-id");
  CHECK(hostPath(HostFile::kCpusOnline) == "/sys/devices/system/cpu/online");
}

TEST_CASE("registry hashsize keeps a value per container, checked like the kernel's", "[vfiles]") {
  std::string path = "/sys/module/nf_conntrack/parameters/hashsize";
  Lookup l = Registry(emulatedEntries()).lookup(path);
  REQUIRE(l.kind == Lookup::kEntry);
  REQUIRE(l.entry->write);
  FixtureInputs in(v1(), {"c1", 0});
  in.texts[HostFile::kConntrackHashsize] = "65536\n";
  CHECK(renderPath(in, path) == "65536\n");  // the host's until the container writes
  auto w = l.entry->write("131072\n", "65536\n");
  CHECK(w.error == 0);
  CHECK(w.value == "131072\n");
  CHECK(l.entry->write("0x100", "").value == "256\n");
  for (std::string_view bad : {"0", "", "-5", "12abc", "4294967296", "1 2"}) {
    INFO(bad);
    CHECK(l.entry->write(bad, "65536\n").error == EINVAL);
  }
  CHECK(hostPath(HostFile::kConntrackHashsize) == path);
}
