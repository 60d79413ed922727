#include "nsutil/cgroup/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <set>
#include <sstream>
#include <string_view>

#include "base/file_util.h"
#include "base/sys_error.h"

namespace sv::cg {

namespace {

std::string ownCgroup(const std::string& selfCgroup, const ns::CgroupHierarchy& h) {
  std::istringstream in(selfCgroup);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    if (h.v2 ? (line.compare(0, a, "0") == 0 && controllers.empty()) : controllers == h.superOpts)
      return line.substr(b + 1);
  }
  return "/";
}

// cpuset.cpus/mems start empty in a new v1 cpuset cgroup and no task can join it then.
void inheritCpuset(const std::string& dir) {
  std::string parent = dir.substr(0, dir.rfind('/'));
  for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
    std::string mine = dir + "/" + file;
    auto cur = readFileIfExists(mine);
    if (!cur || (*cur != "\n" && !cur->empty())) continue;
    auto from = readFileIfExists(parent + "/" + file);
    if (from) writeFileAt(AT_FDCWD, mine, *from);
  }
}

bool isCpuset(const std::string& path) {
  return path.find("/cpuset/") != std::string::npos || path.find("/cpuset,") != std::string::npos ||
         path.find(",cpuset/") != std::string::npos;
}

void removeTree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subdirs;
    while (struct dirent* e = ::readdir(d)) {
      // Only "." and "..": systemd's ".control" cgroups are dot-named too.
      std::string_view name = e->d_name;
      if (e->d_type != DT_DIR || name == "." || name == "..") continue;
      subdirs.push_back(dir + "/" + e->d_name);
    }
    ::closedir(d);
    for (const auto& s : subdirs) removeTree(s);
  }
  // A cgroup that just lost its last task may report EBUSY for a moment.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) throwSysError(errno, "rmdir", fmt::format("cgroup '{}'", dir));
    ::usleep(1000);
  }
  throwSysError(EBUSY, "rmdir", fmt::format("cgroup '{}' still has processes", dir));
}

}  // namespace

void refuseSharedRoots(const std::vector<CgroupDir>& dirs) {
  for (const auto& d : dirs) {
    bool atRoot = d.path == d.mountpoint;
    if (atRoot || d.path == d.origin)
      throw UserError(fmt::format(
          "cgroupsPath resolves to '{}', {}: give the container a cgroup of its own", d.path,
          atRoot ? "the root of the hierarchy" : "the runtime's own cgroup"));
  }
}

std::vector<std::string> pathsOf(const std::vector<CgroupDir>& dirs) {
  std::vector<std::string> out;
  for (const auto& d : dirs) out.push_back(d.path);
  return out;
}

const CgroupDir* v1Dir(const std::vector<CgroupDir>& dirs, std::string_view controller) {
  for (const auto& d : dirs) {
    if (d.v2) continue;
    std::string_view c = d.controllers;
    while (!c.empty()) {
      auto comma = c.find(',');
      if (c.substr(0, comma) == controller) return &d;
      if (comma == std::string_view::npos) break;
      c.remove_prefix(comma + 1);
    }
  }
  return nullptr;
}

std::vector<CgroupDir> resolvePaths(const std::vector<ns::CgroupHierarchy>& hierarchies,
                                    const std::string& cgroupsPath, const std::string& id,
                                    const std::string& selfCgroup) {
  std::vector<CgroupDir> out;
  std::set<std::string> seen;
  for (const auto& h : hierarchies) {
    if (!h.v2 && h.superOpts.empty()) continue;
    if (!seen.insert(h.v2 ? std::string("cgroup2") : h.superOpts).second) continue;
    std::string inner;
    if (cgroupsPath.empty()) inner = ownCgroup(selfCgroup, h) + "/" + id;
    else if (cgroupsPath[0] == '/') inner = cgroupsPath;
    else inner = ownCgroup(selfCgroup, h) + "/" + cgroupsPath;
    std::string path = h.mountpoint + ns::cleanPath(inner);
    if (path.size() > 1 && path.back() == '/') path.pop_back();
    out.push_back({path,
                   h.mountpoint + ns::cleanPath(ownCgroup(selfCgroup, h)), h.mountpoint,
                   h.superOpts, h.v2});
  }
  return out;
}

namespace {
// mkdir -p that tries the leaf first: on the start path the parents almost always exist, so
// this is one syscall per hierarchy instead of one per path component.
void makeCgroupDir(const std::string& path, std::vector<std::string>& created) {
  if (::mkdir(path.c_str(), 0755) != 0) {
    if (errno == EEXIST) return;
    if (errno != ENOENT) throwSysError(errno, "mkdir", fmt::format("cgroup '{}'", path));
    makeCgroupDir(path.substr(0, path.rfind('/')), created);
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir", fmt::format("cgroup '{}'", path));
  }
  created.push_back(path);
  if (isCpuset(path + "/")) inheritCpuset(path);
}
}  // namespace

std::vector<std::string> create(const std::vector<std::string>& paths) {
  std::vector<std::string> created;
  try {
    for (const auto& path : paths) makeCgroupDir(path, created);
  } catch (...) {
    for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
    throw;
  }
  return created;
}

bool listed(const std::string& list, std::string_view name) {
  std::istringstream in(list);
  std::string c;
  while (in >> c)
    if (c == name) return true;
  return false;
}

namespace {

bool tryWrite(const std::string& path, std::string_view text) {
  try {
    writeFileAt(AT_FDCWD, path, text);
    return true;
  } catch (const SysError&) {
    return false;
  }
}
}  // namespace

void enableControllers(const CgroupDir& dir, const std::vector<std::string>& controllers) {
  std::string have = readFileIfExists(dir.path + "/cgroup.controllers").value_or("");
  bool missing = false;
  for (const auto& c : controllers) missing = missing || !listed(have, c);
  if (!missing) return;
  std::istringstream offered(readFileIfExists(dir.mountpoint + "/cgroup.controllers").value_or(""));
  std::vector<std::string> each;
  std::string all, c;
  while (offered >> c) {
    each.push_back("+" + c);
    all += (all.empty() ? "+" : " +") + c;
  }
  if (all.empty()) return;
  // Every ancestor from the root down to the directory's parent.
  std::string cur = dir.mountpoint;
  std::string_view rest = std::string_view(dir.path).substr(dir.mountpoint.size());
  while (!rest.empty()) {
    if (rest[0] == '/') rest.remove_prefix(1);
    auto slash = rest.find('/');
    std::string control = cur + "/cgroup.subtree_control";
    // One write enables them all; a refusal of one (e.g. a controller busy in threaded mode)
    // fails the whole write, so then one at a time.
    if (!tryWrite(control, all))
      for (const auto& one : each) tryWrite(control, one);
    if (slash == std::string_view::npos) break;
    cur += "/" + std::string(rest.substr(0, slash));
    rest.remove_prefix(slash);
  }
}

void attach(const std::vector<std::string>& paths, pid_t pid) {
  std::string text = std::to_string(pid);
  for (const auto& path : paths) writeFileAt(AT_FDCWD, path + "/cgroup.procs", text);
}

namespace {
// Pids of dir and of every cgroup below it (a container may create sub-cgroups).
void collectProcs(const std::string& dir, std::vector<pid_t>& out) {
  auto text = readFileIfExists(dir + "/cgroup.procs");
  if (!text) return;
  std::istringstream in(*text);
  pid_t pid;
  while (in >> pid) out.push_back(pid);
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subdirs;
    while (struct dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && e->d_name[0] != '.') subdirs.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const auto& s : subdirs) collectProcs(s, out);
  }
}
}  // namespace

std::vector<pid_t> procs(const std::vector<std::string>& paths) {
  std::vector<pid_t> out;
  // Every hierarchy holds the same tasks; the first one that exists is enough.
  for (const auto& path : paths) {
    if (::access(path.c_str(), F_OK) != 0) continue;
    collectProcs(path, out);
    break;
  }
  return out;
}

void destroy(const std::vector<std::string>& paths) {
  for (const auto& path : paths) removeTree(path);
}

}  // namespace sv::cg

namespace sv::cg {

BirthPlace::BirthPlace(const std::vector<CgroupDir>& dirs) : dirs_(dirs) {
  try {
    for (const auto& d : dirs_) {
      if (d.v2) {
        v2_ = UniqueFd(SV_SYSCALL(::open(d.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                                  "cgroup '{}'", d.path));
      } else {
        writeFileAt(AT_FDCWD, d.path + "/tasks", "0");
      }
      ++entered_;
    }
  } catch (...) {
    leave();  // no destructor runs for a constructor that throws
    throw;
  }
}

BirthPlace::~BirthPlace() { leave(); }

void BirthPlace::leave() noexcept {
  for (size_t i = 0; i < entered_; ++i) {
    const auto& d = dirs_[i];
    if (d.v2) continue;
    int fd = ::open((d.origin + "/tasks").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    [[maybe_unused]] auto n = ::write(fd, "0", 1);
    ::close(fd);
  }
  entered_ = 0;
}

}  // namespace sv::cg
