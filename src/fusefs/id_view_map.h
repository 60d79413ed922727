// The id arithmetic of the id-shifting view (id_view.h), kept apart as pure functions so unit
// tests feed them values and xattr blobs.
//
// The view shows the engine (dockerd, in the host's user namespace) a running system
// container's rootfs with 0-based ids: a host id in [base, base+size) reads as id-base, and an
// id the engine writes (chown, the owner of a file it creates, a file capability's rootid, a
// POSIX ACL entry) is stored as id+base. Ids outside the range read as themselves: a paused
// container's upper dir is 0-based on disk (shifted back for `docker commit`), and a host file
// that is not the container's keeps its real owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv::fs {

struct IdShift {
  uint32_t uidBase = 0, gidBase = 0, size = 0;

  uid_t uidToView(uid_t host) const noexcept { return toView(host, uidBase); }
  gid_t gidToView(gid_t host) const noexcept { return toView(host, gidBase); }
  // nullopt: the id has no host id in the range (the caller answers EINVAL, as chown does for
  // an id its user namespace does not map).
  std::optional<uid_t> uidToHost(uid_t view) const noexcept { return toHost(view, uidBase); }
  std::optional<gid_t> gidToHost(gid_t view) const noexcept { return toHost(view, gidBase); }

 private:
  uint32_t toView(uint32_t host, uint32_t base) const noexcept {
    return host >= base && host - base < size ? host - base : host;
  }
  std::optional<uint32_t> toHost(uint32_t view, uint32_t base) const noexcept {
    if (view >= size) return std::nullopt;
    return view + base;
  }
};

// Xattr values that carry ids, rewritten one way or the other. Other names and values come back
// unchanged. nullopt: a value with an id that cannot be stored (EINVAL for the caller);
// malformed blobs are passed on for the kernel to refuse.
//  - security.capability: a v3 capability's rootid (read as the host root sees it: rootid 0
//    already reads as v2). Read: rootid base → v2 (the container's root is the image's root),
//    other rootids in the range → v3 with rootid-base. Write: v2 → v3 with rootid base (the
//    file capability applies to the container's root, as if the container's root set it),
//    v3 rootid r → r+base.
//  - system.posix_acl_access / system.posix_acl_default: ACL_USER and ACL_GROUP entries.
std::optional<std::string> xattrToView(std::string_view name, std::string_view value,
                                       const IdShift& shift);
std::optional<std::string> xattrToHost(std::string_view name, std::string_view value,
                                       const IdShift& shift);

}  // namespace sv::fs
