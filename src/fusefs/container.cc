#include "fusefs/container.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>

#include <algorithm>
#include <array>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "fusefs/text_scan.h"

namespace sv::fs {
namespace {

// The v1 controllers whose files the renderers read; file names carry them as prefix
// ("memory.stat", "cpuacct.usage").
constexpr std::array<std::string_view, 5> kControllers = {"memory", "cpu", "cpuacct", "cpuset",
                                                          "blkio"};

// The cgroup directory `path` ("/docker/<id>", from a /proc/<pid>/cgroup line or the runtime)
// strictly beneath the hierarchy's mount point: a ".." or a symlink cannot make sysvisor-fs
// read another cgroup's (or any host directory's) files for a container. Invalid: not found.
UniqueFd openCgroupDir(const std::string& mountPoint, std::string_view path) {
  UniqueFd top(::open(mountPoint.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!top) return top;
  while (path.starts_with('/')) path.remove_prefix(1);
  std::string rel = path.empty() ? std::string(".") : std::string(path);
  return UniqueFd(sv::openat2(
      top.get(), rel.c_str(), O_PATH | O_DIRECTORY,
      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
}

// Appends the numbers of a "tasks"/"cgroup.threads" file of dir and of every cgroup below it.
void collectTasks(int dirfd, const char* file, std::vector<pid_t>& out, int depth) {
  std::string text;
  try {
    text = readFileAt(dirfd, file);
  } catch (const std::exception&) {
    return;
  }
  text::Lines lines(text);
  while (auto line = lines.next())
    if (auto n = text::toU64(*line)) out.push_back(static_cast<pid_t>(*n));
  if (depth > 32) return;
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  while (dirent* e = ::readdir(d)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    UniqueFd sub(::openat(dirfd, e->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (sub) collectTasks(sub.get(), file, out, depth + 1);
  }
  ::closedir(d);
}

}  // namespace

CgroupMounts CgroupMounts::fromMountinfo(std::string_view mountinfo) {
  CgroupMounts m;
  text::Lines lines(mountinfo);
  while (auto line = lines.next()) {
    auto dash = line->find(" - ");
    if (dash == std::string_view::npos) continue;
    text::Words pre(line->substr(0, dash));
    std::string_view mountPoint;
    for (int i = 0; i < 5; ++i) {
      auto w = pre.next();
      if (!w) break;
      if (i == 4) mountPoint = *w;
    }
    text::Words post(line->substr(dash + 3));
    auto type = post.next();
    post.next();  // source
    auto super = post.next();
    if (!type || mountPoint.empty()) continue;
    if (*type == "cgroup2") {
      if (m.v2.empty()) m.v2 = std::string(mountPoint);
    } else if (*type == "cgroup" && super) {
      std::string_view opts = *super;
      while (!opts.empty()) {
        auto comma = opts.find(',');
        std::string_view opt = opts.substr(0, comma);
        opts.remove_prefix(comma == std::string_view::npos ? opts.size() : comma + 1);
        for (std::string_view c : kControllers)
          if (opt == c && !m.v1.contains(c)) m.v1.emplace(std::string(c), std::string(mountPoint));
      }
    }
  }
  return m;
}

Container::Container(ContainerData data, const CgroupMounts& mounts) : data_(std::move(data)) {
  for (const std::string& line : data_.cgroupLines) {
    // "4:memory:/docker/<id>", "3:cpu,cpuacct:/x", "0::/x" (cgroup2)
    auto c1 = line.find(':');
    auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    std::string_view ctrls = std::string_view(line).substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (ctrls.empty()) {
      if (!mounts.v2.empty() && !v2_) v2_ = openCgroupDir(mounts.v2, path);
      continue;
    }
    while (!ctrls.empty()) {
      auto comma = ctrls.find(',');
      std::string_view c = ctrls.substr(0, comma);
      ctrls.remove_prefix(comma == std::string_view::npos ? ctrls.size() : comma + 1);
      auto mp = mounts.v1.find(c);
      if (mp == mounts.v1.end() || v1_.contains(c)) continue;
      if (UniqueFd fd = openCgroupDir(mp->second, path)) v1_.emplace(std::string(c), std::move(fd));
    }
  }
}

std::optional<std::string> Container::cgroupFile(Hierarchy h, std::string_view name) const {
  if (h == Hierarchy::kV2) return v2_ ? v2Files_.read(v2_.get(), name) : std::nullopt;
  auto it = v1_.find(name.substr(0, name.find('.')));
  if (it == v1_.end()) return std::nullopt;
  // v1 file names carry their controller, so one cache serves every v1 directory.
  return v1Files_.read(it->second.get(), name);
}

std::vector<pid_t> Container::tasks() const {
  std::vector<pid_t> out;
  for (std::string_view c : {"cpuacct", "cpu", "memory"}) {
    auto it = v1_.find(c);
    if (it == v1_.end()) continue;
    collectTasks(it->second.get(), "tasks", out, 0);
    return out;
  }
  if (v2_) collectTasks(v2_.get(), "cgroup.threads", out, 0);
  return out;
}

std::optional<std::string> Container::sysctl(std::string_view path) const {
  std::lock_guard lock(mu_);
  auto it = sysctls_.find(path);
  if (it == sysctls_.end()) return std::nullopt;
  return it->second;
}

void Container::setSysctl(std::string_view path, std::string value) {
  std::lock_guard lock(mu_);
  sysctls_.insert_or_assign(std::string(path), std::move(value));
}

std::map<std::string, std::string, std::less<>> Container::sysctls() const {
  std::lock_guard lock(mu_);
  return sysctls_;
}

void Container::setSysctls(std::map<std::string, std::string, std::less<>> values) {
  std::lock_guard lock(mu_);
  sysctls_ = std::move(values);
}

std::shared_ptr<const ContainerTable::Map> ContainerTable::snapshot() const {
  std::lock_guard lock(mu_);
  return map_;
}

std::shared_ptr<Container> ContainerTable::find(std::string_view id) const {
  auto snap = snapshot();
  auto it = snap->find(id);
  return it == snap->end() ? nullptr : it->second;
}

std::shared_ptr<Container> ContainerTable::put(std::shared_ptr<Container> c) {
  std::lock_guard lock(mu_);
  auto next = std::make_shared<Map>(*map_);
  std::shared_ptr<Container> old;
  auto [it, inserted] = next->try_emplace(c->data().id, c);
  if (!inserted) old = std::exchange(it->second, c);
  map_ = std::move(next);
  return old;
}

std::shared_ptr<Container> ContainerTable::remove(std::string_view id) {
  std::lock_guard lock(mu_);
  auto it = map_->find(id);
  if (it == map_->end()) return nullptr;
  auto next = std::make_shared<Map>(*map_);
  auto old = it->second;
  next->erase(std::string(id));
  map_ = std::move(next);
  return old;
}

std::optional<uint64_t> processStartTicks(pid_t pid) {
  std::optional<std::string> stat;
  try {
    stat = readFileIfExists(fmt::format("/proc/{}/stat", pid));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!stat) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  text::Words w(std::string_view(*stat).substr(close + 1));
  for (int field = 3; field < 22; ++field)
    if (!w.next()) return std::nullopt;
  auto v = w.next();
  return v ? text::toU64(*v) : std::nullopt;
}

}  // namespace sv::fs
