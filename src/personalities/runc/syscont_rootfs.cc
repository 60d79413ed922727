// The system container's rootfs: idmapped overlay layers or an idmapped clone, and the
// shifting of an overlay's upper dir (see syscont_setup.h).
#include <sys/stat.h>

#include <chrono>

#include "base/file_util.h"
#include "base/log.h"
#include "base/sys_error.h"
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
    ns::remountOverlayIdmapped(*ov, userns);
  } catch (...) {
    ns::shiftIds(ov->upper, range.uidBase, range.size, -static_cast<int64_t>(range.uidBase));
    throw;
  }
  return out;
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
