// The system container's rootfs: idmapped overlay layers or an idmapped clone, and the
// shifting of an overlay's upper dir (see syscont_setup.h).
#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <chrono>

#include "base/file_util.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys_error.h"
#include "fusefs/id_view.h"
#include "nsutil/id_shift.h"
#include "nsutil/idmap.h"
#include "nsutil/overlay_idmap.h"
#include "nsutil/plan.h"
#include "personalities/runc/syscont_setup.h"

namespace sv::runc {

SysContRootfs prepareSystemRootfs(const std::string& rootfs, int userns, const IdRange& range,
                                  const std::function<void(const std::string&)>& willShift) {
  SysContRootfs out;
  // A rootfs the engine already made for this range (Docker's userns-remap chowns its layers
  // to the remapped root) needs no idmapping; shifting it again would be wrong.
  struct stat st;
  SV_SYSCALL(::stat(rootfs.c_str(), &st), "rootfs '{}'", rootfs);
  if (st.st_uid == range.uidBase && st.st_gid == range.gidBase) return out;
  // Docker's layer paths, when relative, are relative to the driver's home: the directory
  // above ".../<id>/merged".
  std::string home = ns::cleanPath(rootfs + "/../..");
  std::optional<ns::OverlayMount> ov =
      ns::findOverlayAt(readFile("/proc/self/mountinfo"), rootfs, home);
  if (!ov || ov->upper.empty()) {
    // A read-only overlay has nothing to shift: an idmapped clone of it would do, but overlayfs
    // itself cannot be idmapped; its layers can.
    if (ov) {
      ns::remountOverlayIdmapped(*ov, userns);
      return out;
    }
    if (std::optional<UniqueFd> tree = ns::tryIdmappedRootfs(rootfs, userns)) {
      out.rootfsTree = std::move(*tree);
      return out;
    }
    // No idmapped mounts here: chown the rootfs to the range for as long as the container
    // lives (shifted back at delete, like an upper dir). Every file is touched, every time.
    willShift(rootfs);
    auto t0 = std::chrono::steady_clock::now();
    ns::ShiftStats n = ns::shiftIds(rootfs, 0, range.size, static_cast<int64_t>(range.uidBase));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
    log::warn("rootfs '{}': its filesystem cannot be idmapped, so its {} files were chowned to "
              "the container's range instead (slow: {} ms; they are chowned back at delete)",
              rootfs, n.files, ms);
    return out;
  }
  if (ov->lowersByFd) {
    // Our own overlay from the container's last run: `docker restart` keeps the rootfs mounted
    // between delete and create. Its layers are idmapped for this id's range, which mgr keeps
    // for the id; only the upper dir (shifted back at delete) needs shifting again.
    willShift(ov->upper);
    ns::shiftIds(ov->upper, 0, range.size, static_cast<int64_t>(range.uidBase));
    return out;
  }
  willShift(ov->upper);
  ns::shiftIds(ov->upper, 0, range.size, static_cast<int64_t>(range.uidBase));
  try {
    // Our overlay gets a work dir of its own, inside the engine's: an overlay mount empties its
    // work dir's "work" subdir, and the engine may mount its overlay over the view while ours
    // lives (dockerd does, for each command, after a restart with live-restore), which would
    // pull the ground from under our copy-ups.
    ns::OverlayMount ours = *ov;
    ours.work = ov->work + "/sysvisor";
    if (::mkdir(ours.work.c_str(), 0700) != 0 && errno != EEXIST)
      throwSysError(errno, "mkdir", fmt::format("'{}'", ours.work));
    out.rootfsTree = ns::buildIdmappedOverlay(ours, userns);
    out.engineOverlay = std::move(*ov);
  } catch (...) {
    ns::shiftIds(ov->upper, range.uidBase, range.size, -static_cast<int64_t>(range.uidBase));
    throw;
  }
  return out;
}

void startEngineView(SysContRootfs& r, ContainerState& s, const std::function<void()>& record) {
  if (!r.engineOverlay) return;
  const ns::OverlayMount& engine = *r.engineOverlay;
  std::optional<fs::IdViewProcess> view;
  try {
    view.emplace(fs::startIdView(r.rootfsTree.get(), {s.uidBase, s.gidBase, s.idSize}));
  } catch (const std::exception& e) {
    // Without FUSE, or on a kernel that cannot clone a detached mount (before 6.15): our
    // overlay goes on the path itself, as before there was a view; the init finds it there.
    log::warn("container \"{}\": no id view for the engine ({}); '{}' gets the container's "
              "overlay itself, so while it runs the engine sees its host ids (docker diff lists "
              "every file, cp and export carry the range's ids)",
              s.id, e.what(), engine.mountpoint);
    ns::replaceMount(engine.mountpoint, engine.mountId, r.rootfsTree.get());
    r.rootfsTree.reset();
    return;
  }
  // Recorded first: a delete after a failure from here on stops the server and checks the path.
  s.idViewEngineMount = engine.mountinfoLine;
  s.idViewPid = view->pid;
  s.idViewStart = view->startTime;
  record();
  ns::replaceMount(engine.mountpoint, engine.mountId, view->mount.get());
}

namespace {

// The view's server killed and gone; false if it may still be alive (then it still holds our
// overlay, and the engine's must not be mounted beside it). Why safe: the pid is signalled
// only if its start time is the server's.
bool stopIdViewServer(const ContainerState& s) {
  UniqueFd fd = openIfSame(s.idViewPid, s.idViewStart);
  if (!fd) return true;
  if (!pidfdSignal(fd.get(), SIGKILL)) return errno == ESRCH;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  struct pollfd p = {fd.get(), POLLIN, 0};
  while (std::chrono::steady_clock::now() < deadline) {
    int r = ::poll(&p, 1, 100);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) break;
  }
  return false;
}

}  // namespace

void removeEngineView(const ContainerState& s) noexcept {
  if (s.idViewEngineMount.empty()) return;
  std::string path = "(unknown)";
  try {
    std::optional<ns::OverlayMount> engine = ns::overlayOfLine(s.idViewEngineMount);
    if (!engine) throw UserError("the engine's overlay in the state cannot be read");
    path = engine->mountpoint;
    std::string mountinfo = readFile("/proc/self/mountinfo");
    std::optional<ns::TopMount> top = ns::findTopMountAt(mountinfo, path);
    auto isView = [](const ns::TopMount& m) {
      return m.fstype == "fuse" && m.source == fs::kIdViewSource;
    };
    if (!top || !isView(*top)) {
      std::vector<ns::TopMount> all = ns::findMountsAt(mountinfo, path);
      if (std::any_of(all.begin(), all.end(), isView)) {
        // Covered (dockerd after a live-restore mounts its overlay over the view for each
        // command): the view stays served until the engine's own unmount takes it.
        log::warn("container \"{}\": the id view on '{}' is covered by another mount; left to "
                  "the engine's unmount",
                  s.id, path);
        return;
      }
      stopIdViewServer(s);  // the engine unmounted the view: its server is ending anyway
      return;
    }
    if (!stopIdViewServer(s))
      throw UserError(fmt::format("its server (pid {}) did not exit", s.idViewPid));
    ns::restoreOverlay(*engine, top->id);
  } catch (const std::exception& e) {
    log::warn("container \"{}\": putting the engine's overlay back on '{}': {}", s.id, path,
              e.what());
  }
}

void shiftUpperBack(const ContainerState& s) {
  if (s.shiftedUpper.empty()) return;
  ns::shiftIds(s.shiftedUpper, s.uidBase, s.idSize, -static_cast<int64_t>(s.uidBase));
}

void shiftUpperForward(const ContainerState& s) {
  if (s.shiftedUpper.empty()) return;
  ns::shiftIds(s.shiftedUpper, 0, s.idSize, static_cast<int64_t>(s.uidBase));
}

}  // namespace sv::runc
