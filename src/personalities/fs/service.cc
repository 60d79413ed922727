#include "personalities/fs/service.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>

#include "base/daemon_util.h"
#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
#include "fusefs/registry.h"

namespace sv::fsd {

namespace {

using json = nlohmann::json;


json toJson(const fs::ContainerData& d, const std::map<std::string, std::string, std::less<>>& s) {
  return json{{"id", d.id},         {"initPid", d.initPid},       {"startTicks", d.startTicks},
              {"uidBase", d.uidBase}, {"gidBase", d.gidBase},       {"idSize", d.idSize},
              {"created", d.created}, {"hostname", d.hostname},     {"cgroups", d.cgroupLines},
              {"sysctls", s}};
}

fs::ContainerData fromJson(const json& j) {
  fs::ContainerData d;
  d.id = j.at("id").get<std::string>();
  d.initPid = j.at("initPid").get<pid_t>();
  d.startTicks = j.at("startTicks").get<uint64_t>();
  d.uidBase = j.at("uidBase").get<uint32_t>();
  d.gidBase = j.at("gidBase").get<uint32_t>();
  d.idSize = j.at("idSize").get<uint32_t>();
  d.created = j.at("created").get<int64_t>();
  d.hostname = j.at("hostname").get<std::string>();
  d.cgroupLines = j.at("cgroups").get<std::vector<std::string>>();
  return d;
}

std::vector<std::string> readCgroupLines(pid_t pid) {
  std::vector<std::string> out;
  std::string text = readFile(fmt::format("/proc/{}/cgroup", pid));
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    if (nl > pos) out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> bindPaths() {
  std::vector<std::string> out;
  for (const fs::Entry& e : fs::emulatedEntries()) {
    bool file = S_ISREG(e.mode) && e.render;
    bool dir = S_ISDIR(e.mode);
    if (file || dir) out.emplace_back(e.path);
  }
  // /proc before /sys, each sorted: a stable order the runtime mounts in.
  std::sort(out.begin(), out.end());
  return out;
}

Store::Store(std::string dir) : dir_(std::move(dir)) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throwSysError(errno, "mkdir", fmt::format("'{}'", dir_));
  dirFd_ = UniqueFd(SV_SYSCALL(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'",
                               dir_));
}

void Store::save(const fs::Container& c) {
  std::string text = toJson(c.data(), c.sysctls()).dump() + "\n";
  std::lock_guard lock(mu_);
  writeFileAtomic(dirFd_.get(), c.data().id + ".json", text, 0600);
}

void Store::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  std::string name = id + ".json";
  if (::unlinkat(dirFd_.get(), name.c_str(), 0) != 0 && errno != ENOENT)
    log::warn("removing '{}/{}': {}", dir_, name, std::strerror(errno));
}

std::vector<std::pair<fs::ContainerData, std::map<std::string, std::string, std::less<>>>>
Store::load() {
  std::vector<std::pair<fs::ContainerData, std::map<std::string, std::string, std::less<>>>> out;
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return out;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n.ends_with(".json")) names.emplace_back(n);
  }
  ::closedir(d);
  for (const std::string& name : names) {
    try {
      json j = json::parse(readFileAt(dirFd_.get(), name));
      fs::ContainerData data = fromJson(j);
      auto ticks = fs::processStartTicks(data.initPid);
      if (!ticks || *ticks != data.startTicks) {
        log::info("container {}: its init {} is gone, registration dropped", data.id,
                  data.initPid);
        remove(data.id);
        continue;
      }
      out.emplace_back(std::move(data),
                       j.value("sysctls", std::map<std::string, std::string, std::less<>>{}));
    } catch (const std::exception& e) {
      log::warn("registration '{}/{}' is unreadable ({}); dropped", dir_, name, e.what());
      ::unlinkat(dirFd_.get(), name.c_str(), 0);
    }
  }
  return out;
}

kj::Promise<void> FsService::register_(RegisterContext context) {
  auto p = context.getParams().getData();
  auto results = context.getResults();
  auto fail = [&](const std::string& msg) {
    results.setError(msg);
    return kj::READY_NOW;
  };
  fs::ContainerData d;
  d.id = p.getId().cStr();
  if (!daemon::plausibleContainerId(d.id)) return fail(fmt::format("\"{}\" is no container id", d.id));
  d.initPid = p.getInitPid();
  if (d.initPid <= 0) return fail("no init pid");
  auto ticks = fs::processStartTicks(d.initPid);
  if (!ticks || (p.getInitStartTime() != 0 && *ticks != p.getInitStartTime()))
    return fail(fmt::format("the init of container {} (pid {}) is not running", d.id, d.initPid));
  d.startTicks = *ticks;
  d.uidBase = p.getRange().getUidBase();
  d.gidBase = p.getRange().getGidBase();
  d.idSize = p.getRange().getSize();
  d.created = p.getCreated();
  d.hostname = p.getHostname().cStr();
  try {
    if (p.hasCgroupPaths() && p.getCgroupPaths().size() > 0) {
      for (auto line : p.getCgroupPaths()) d.cgroupLines.emplace_back(line.cStr());
    } else {
      d.cgroupLines = readCgroupLines(d.initPid);
    }
    auto c = std::make_shared<fs::Container>(std::move(d), mounts_);
    // A registration again (a restarted init) keeps the values the container set.
    if (auto old = table_.find(c->data().id)) c->setSysctls(old->sysctls());
    store_.save(*c);
    table_.put(c);
    log::info("container {} registered: init {}, ids {}+{}", c->data().id, c->data().initPid,
              c->data().uidBase, c->data().idSize);
    results.setRoot(mountpoint_ + "/" + c->data().id);
    auto paths = bindPaths();
    auto binds = results.initBinds(static_cast<unsigned>(paths.size()));
    for (unsigned i = 0; i < paths.size(); ++i) binds.set(i, paths[i]);
  } catch (const std::exception& e) {
    return fail(fmt::format("registering container {}: {}", p.getId().cStr(), e.what()));
  }
  return kj::READY_NOW;
}

kj::Promise<void> FsService::unregister(UnregisterContext context) {
  std::string id = context.getParams().getId().cStr();
  bool known = table_.remove(id) != nullptr;
  store_.remove(id);
  nodes_.drop(id);
  if (known) fs_.invalidateContainer(id);
  if (known) log::info("container {} unregistered", id);
  context.getResults().setKnown(known);
  return kj::READY_NOW;
}

kj::Promise<void> FsService::status(StatusContext context) {
  auto r = context.getResults();
  r.setMountpoint(mountpoint_);
  auto snap = table_.snapshot();
  auto list = r.initContainers(static_cast<unsigned>(snap->size()));
  unsigned i = 0;
  for (const auto& [id, c] : *snap) {
    auto b = list[i++];
    const fs::ContainerData& d = c->data();
    b.setId(d.id);
    b.setInitPid(d.initPid);
    b.setInitStartTime(d.startTicks);
    b.getRange().setUidBase(d.uidBase);
    b.getRange().setGidBase(d.gidBase);
    b.getRange().setSize(d.idSize);
    b.setCreated(d.created);
    b.setHostname(d.hostname);
    auto cg = b.initCgroupPaths(static_cast<unsigned>(d.cgroupLines.size()));
    for (unsigned k = 0; k < d.cgroupLines.size(); ++k) cg.set(k, d.cgroupLines[k]);
  }
  auto d = r.initDaemon();
  d.setVersion(SV_VERSION);
  d.setPid(::getpid());
  d.setStarted(started_);
  return kj::READY_NOW;
}

}  // namespace sv::fsd
