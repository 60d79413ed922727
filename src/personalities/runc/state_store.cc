#include "personalities/runc/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/file_util.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "nsutil/cgroup/freezer.h"

namespace sv::runc {

namespace {
constexpr const char* kStateFile = "state.json";
constexpr const char* kLockFile = ".lock";

void removeTree(int dirfd) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (e->d_type == DT_DIR) {
      int sub = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) removeTree(sub);
      ::unlinkat(::dirfd(d), name.c_str(), AT_REMOVEDIR);
    } else {
      ::unlinkat(::dirfd(d), name.c_str(), 0);
    }
  }
  ::closedir(d);
}
}  // namespace

const char* statusName(Status s) {
  switch (s) {
    case Status::kCreating: return "creating";
    case Status::kCreated: return "created";
    case Status::kRunning: return "running";
    case Status::kPaused: return "paused";
    case Status::kStopped: return "stopped";
  }
  return "unknown";
}

std::string nowRfc3339() { return rfc3339Now(true); }

std::string stateToJson(const ContainerState& s) {
  nlohmann::json j = {{"id", s.id},
                      {"pid", s.pid},
                      {"pidStartTime", s.pidStartTime},
                      {"bundle", s.bundle},
                      {"rootfs", s.rootfs},
                      {"created", s.created},
                      {"ociVersion", s.ociVersion},
                      {"annotations", s.annotations},
                      {"privatePidNs", s.privatePidNs},
                      {"pidNsInode", s.pidNsInode},
                      {"owner", s.owner},
                      {"cgroupPaths", s.cgroupPaths},
                      {"freezerDir", s.freezerDir},
                      {"freezerV2", s.freezerV2}};
  if (!s.systemdUnit.empty()) j["systemdUnit"] = s.systemdUnit;
  if (s.systemContainer) {
    j["systemContainer"] = true;
    j["idMap"] = {s.uidBase, s.gidBase, s.idSize};
    if (!s.mgrSocket.empty()) j["mgrSocket"] = s.mgrSocket;
    if (!s.fsSocket.empty()) {
      j["fsSocket"] = s.fsSocket;
      j["fsRegistered"] = s.fsRegistered;
    }
    if (!s.shiftedUpper.empty()) j["shiftedUpper"] = s.shiftedUpper;
    if (s.systemdInit) j["systemdInit"] = true;
    if (s.consoleRelayPid) j["consoleRelay"] = {s.consoleRelayPid, s.consoleRelayStart};
    if (!s.idViewEngineMount.empty())
      j["idView"] = {{"engineMount", s.idViewEngineMount},
                     {"pid", s.idViewPid},
                     {"start", s.idViewStart}};
  }
  if (s.sharedRootfsMountId) {
    j["sharedRootfsMountId"] = s.sharedRootfsMountId;
    j["sharedRootfsPath"] = s.sharedRootfsPath;
  }
  std::string text = j.dump();
  // hooks and seccomp are JSON objects' text already (config.json's, or state.json's as
  // loaded): appended as they are, not parsed into j to be dumped again.
  text.pop_back();  // the closing brace
  if (!s.hooksJson.empty()) text.append(",\"hooks\":").append(s.hooksJson);
  if (!s.seccompJson.empty()) text.append(",\"seccomp\":").append(s.seccompJson);
  text += '}';
  return text;
}

ContainerState stateFromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  ContainerState s;
  s.id = j.at("id").get<std::string>();
  s.pid = j.at("pid").get<pid_t>();
  s.pidStartTime = j.at("pidStartTime").get<uint64_t>();
  s.bundle = j.at("bundle").get<std::string>();
  s.rootfs = j.at("rootfs").get<std::string>();
  s.created = j.at("created").get<std::string>();
  s.ociVersion = j.value("ociVersion", "");
  s.annotations = j.value("annotations", std::map<std::string, std::string>{});
  s.privatePidNs = j.value("privatePidNs", false);
  s.pidNsInode = j.value("pidNsInode", uint64_t{0});
  s.owner = j.value("owner", "");
  s.cgroupPaths = j.value("cgroupPaths", std::vector<std::string>{});
  s.freezerDir = j.value("freezerDir", "");
  s.freezerV2 = j.value("freezerV2", false);
  if (auto it = j.find("hooks"); it != j.end() && it->is_object()) s.hooksJson = it->dump();
  if (auto it = j.find("seccomp"); it != j.end() && it->is_object()) s.seccompJson = it->dump();
  s.systemdUnit = j.value("systemdUnit", "");
  s.sharedRootfsMountId = j.value("sharedRootfsMountId", 0);
  s.sharedRootfsPath = j.value("sharedRootfsPath", "");
  s.systemContainer = j.value("systemContainer", false);
  if (auto it = j.find("idMap"); it != j.end() && it->is_array() && it->size() == 3) {
    s.uidBase = (*it)[0].get<uint32_t>();
    s.gidBase = (*it)[1].get<uint32_t>();
    s.idSize = (*it)[2].get<uint32_t>();
  }
  s.mgrSocket = j.value("mgrSocket", "");
  s.fsSocket = j.value("fsSocket", "");
  s.fsRegistered = j.value("fsRegistered", false);
  s.shiftedUpper = j.value("shiftedUpper", "");
  s.systemdInit = j.value("systemdInit", false);
  if (auto it = j.find("consoleRelay"); it != j.end() && it->is_array() && it->size() == 2) {
    s.consoleRelayPid = (*it)[0].get<pid_t>();
    s.consoleRelayStart = (*it)[1].get<uint64_t>();
  }
  if (auto it = j.find("idView"); it != j.end() && it->is_object()) {
    s.idViewEngineMount = it->value("engineMount", "");
    s.idViewPid = it->value("pid", pid_t{0});
    s.idViewStart = it->value("start", uint64_t{0});
  }
  return s;
}

std::string specState(const ContainerState& s, const char* status, pid_t pid) {
  nlohmann::ordered_json j;
  j["ociVersion"] = s.ociVersion;
  j["id"] = s.id;
  j["status"] = status;
  if (pid > 0) j["pid"] = pid;
  j["bundle"] = s.bundle;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return j.dump();
}

std::string stateReport(const ContainerState& s, Status status, bool pretty) {
  nlohmann::ordered_json j;
  j["ociVersion"] = s.ociVersion;
  j["id"] = s.id;
  j["pid"] = status == Status::kStopped ? 0 : s.pid;
  j["status"] = statusName(status);
  j["bundle"] = s.bundle;
  j["rootfs"] = s.rootfs;
  j["created"] = s.created;
  j["owner"] = s.owner;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return pretty ? j.dump(2) : j.dump();
}

StateStore::StateStore(std::string root) : root_(std::move(root)) {}

void StateStore::ensureRoot() const {
  if (::mkdir(root_.c_str(), 0700) == 0 || errno == EEXIST) return;
  if (errno != ENOENT) throwSysError(errno, "mkdir", fmt::format("state root '{}'", root_));
  // Create the parents (0755, like runc's MkdirAll), then the root itself 0700.
  for (size_t p = root_.find('/', 1); p != std::string::npos; p = root_.find('/', p + 1)) {
    std::string parent = root_.substr(0, p);
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir", fmt::format("'{}'", parent));
  }
  if (::mkdir(root_.c_str(), 0700) != 0 && errno != EEXIST)
    throwSysError(errno, "mkdir", fmt::format("state root '{}'", root_));
}

UniqueFd StateStore::openSeccompCache() const {
  const std::string dir = root_ + "/.seccomp-cache";
  constexpr int kFlags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::open(dir.c_str(), kFlags));
  if (fd || errno != ENOENT) return fd;
  ensureRoot();
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    throwSysError(errno, "mkdir", fmt::format("'{}'", dir));
  return UniqueFd(::open(dir.c_str(), kFlags));
}

UniqueFd StateStore::createAndLock(const std::string& id) const {
  ensureRoot();
  std::string d = dir(id);
  if (::access(d.c_str(), F_OK) == 0)
    throw UserError(fmt::format("container with id \"{}\" already exists", id));
  // Build the directory with its lock taken under a temporary name, then rename it into
  // place: no other command ever sees the container without a held lock.
  // The name carries the id, so `delete --force <id>` can clear it after a killed create.
  std::string tmp = creatingDir(id);
  if (::mkdir(tmp.c_str(), 0700) != 0) {
    if (errno != EEXIST || !removeStaleCreating(id) || ::mkdir(tmp.c_str(), 0700) != 0)
      throw UserError(fmt::format("container with id \"{}\" already exists (being created)", id));
  }
  try {
    std::string lockPath = tmp + "/" + kLockFile;
    UniqueFd fd(SV_SYSCALL(::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600), "'{}'",
                           lockPath));
    SV_SYSCALL(::flock(fd.get(), LOCK_EX), "'{}'", lockPath);
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, d.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST)
        throw UserError(fmt::format("container with id \"{}\" already exists", id));
      throwSysError(errno, "rename", fmt::format("'{}' to '{}'", tmp, d));
    }
    return fd;
  } catch (...) {
    ::unlink((tmp + "/" + kLockFile).c_str());
    ::rmdir(tmp.c_str());
    throw;
  }
}

bool StateStore::removeStaleCreating(const std::string& id) const {
  std::string tmp = creatingDir(id);
  int fd = ::open((tmp + "/" + kLockFile).c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    UniqueFd lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return false;  // a create is at work
  }
  int dfd = ::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return errno == ENOENT;
  removeTree(dfd);
  return ::rmdir(tmp.c_str()) == 0 || errno == ENOENT;
}

std::optional<UniqueFd> StateStore::lock(const std::string& id) const {
  std::string lockPath = dir(id) + "/" + kLockFile;
  for (;;) {
    int fd = ::open(lockPath.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      throwSysError(errno, "open", fmt::format("'{}'", lockPath));
    }
    UniqueFd owned(fd);
    SV_SYSCALL(::flock(fd, LOCK_EX), "'{}'", lockPath);
    // The holder may have deleted the container while we waited.
    struct stat a, b;
    if (::fstat(fd, &a) == 0 && ::stat(lockPath.c_str(), &b) == 0 && a.st_ino == b.st_ino)
      return owned;
    if (::access(dir(id).c_str(), F_OK) != 0) return std::nullopt;
  }
}

std::optional<ContainerState> StateStore::load(const std::string& id) const {
  auto text = readFileIfExists(dir(id) + "/" + kStateFile);
  if (!text) return std::nullopt;
  try {
    return stateFromJson(*text);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("state of container \"{}\" in '{}' is corrupt ({}): remove it "
                                "with `delete --force {}`",
                                id, dir(id), e.what(), id));
  }
}

void StateStore::save(const ContainerState& s) const {
  UniqueFd d(SV_SYSCALL(::open(dir(s.id).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "'{}'",
                        dir(s.id)));
  writeFileAtomic(d.get(), kStateFile, stateToJson(s), 0600);
}

void StateStore::remove(const std::string& id) const {
  std::string d = dir(id);
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  removeTree(fd);
  if (::rmdir(d.c_str()) != 0 && errno != ENOENT)
    throwSysError(errno, "rmdir", fmt::format("'{}'", d));
}

std::vector<std::string> StateStore::list() const {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root_.c_str());
  if (!d) return ids;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || name[0] == '.') continue;
    if (e->d_type == DT_DIR) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool StateStore::hasExecFifo(const std::string& id) const {
  return ::access(execFifoPath(id).c_str(), F_OK) == 0;
}

bool initAlive(const ContainerState& s) {
  if (s.pid <= 0) return false;
  auto st = readProcStat(s.pid);
  return st && st->startTime == s.pidStartTime && st->state != 'Z' && st->state != 'X';
}

Status StateStore::status(const ContainerState& s) const {
  if (s.pid == 0) return Status::kCreating;  // create is running, or died before the clone
  if (!initAlive(s)) return Status::kStopped;
  if (hasExecFifo(s.id)) return Status::kCreated;
  if (cg::isFrozen({s.freezerDir, s.freezerV2})) return Status::kPaused;
  return Status::kRunning;
}

}  // namespace sv::runc
