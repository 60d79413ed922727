// The id view's arithmetic (fusefs/id_view_map.h): ids, file capabilities and POSIX ACLs
// shown 0-based to the engine and stored in the container's range.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "fusefs/id_view_map.h"

using sv::fs::IdShift;
using sv::fs::xattrToHost;
using sv::fs::xattrToView;

namespace {

constexpr IdShift kShift{300000, 400000, 65536};

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A file capability: magic (revision | effective flag), permitted and inheritable words for
// two 32-bit halves, and a rootid for v3.
std::string capV2(uint32_t permitted) {
  return le32(0x02000001) + le32(permitted) + le32(0) + le32(0) + le32(0);
}
std::string capV3(uint32_t permitted, uint32_t rootid) {
  return le32(0x03000001) + le32(permitted) + le32(0) + le32(0) + le32(0) + le32(rootid);
}

std::string aclEntry(uint16_t tag, uint16_t perm, uint32_t id) {
  std::string s;
  s += static_cast<char>(tag & 0xff);
  s += static_cast<char>(tag >> 8);
  s += static_cast<char>(perm & 0xff);
  s += static_cast<char>(perm >> 8);
  return s + le32(id);
}
std::string acl(uint32_t user, uint32_t group) {
  return le32(2) + aclEntry(0x01, 7, 0xffffffff) + aclEntry(0x02, 5, user) +
         aclEntry(0x04, 5, 0xffffffff) + aclEntry(0x08, 4, group) +
         aclEntry(0x10, 7, 0xffffffff) + aclEntry(0x20, 0, 0xffffffff);
}

}  // namespace

TEST_CASE("id view: ids in the range read 0-based, others as they are") {
  CHECK(kShift.uidToView(300000) == 0);
  CHECK(kShift.uidToView(301000) == 1000);
  CHECK(kShift.uidToView(365535) == 65535);
  CHECK(kShift.uidToView(365536) == 365536);  // past the range
  CHECK(kShift.uidToView(299999) == 299999);
  CHECK(kShift.uidToView(0) == 0);  // a host root file (or a paused container's upper dir)
  CHECK(kShift.gidToView(400007) == 7);
  CHECK(kShift.gidToView(300007) == 300007);  // gids shift by their own base
}

TEST_CASE("id view: written ids go into the range; ids past its size are refused") {
  CHECK(kShift.uidToHost(0) == 300000u);
  CHECK(kShift.uidToHost(65535) == 365535u);
  CHECK_FALSE(kShift.uidToHost(65536).has_value());
  CHECK_FALSE(kShift.uidToHost(static_cast<uid_t>(-1)).has_value());
  CHECK(kShift.gidToHost(5) == 400005u);
}

TEST_CASE("id view: file capabilities") {
  SECTION("the container root's v3 capability reads as the image's v2") {
    CHECK(xattrToView("security.capability", capV3(1u << 13, 300000), kShift) ==
          capV2(1u << 13));
  }
  SECTION("another rootid in the range reads as v3 with the 0-based rootid") {
    CHECK(xattrToView("security.capability", capV3(1u << 13, 301000), kShift) ==
          capV3(1u << 13, 1000));
  }
  SECTION("v2 and foreign rootids read as they are") {
    CHECK(xattrToView("security.capability", capV2(4), kShift) == capV2(4));
    CHECK(xattrToView("security.capability", capV3(4, 5), kShift) == capV3(4, 5));
  }
  SECTION("a written v2 capability is the container root's: v3 with rootid base") {
    CHECK(xattrToHost("security.capability", capV2(1u << 13), kShift) ==
          capV3(1u << 13, 300000));
  }
  SECTION("a written v3 rootid moves into the range, or is refused past it") {
    CHECK(xattrToHost("security.capability", capV3(8, 1000), kShift) == capV3(8, 301000));
    CHECK_FALSE(xattrToHost("security.capability", capV3(8, 70000), kShift).has_value());
  }
  SECTION("round trip") {
    std::string v2 = capV2(0x3000);
    CHECK(xattrToView("security.capability", *xattrToHost("security.capability", v2, kShift),
                      kShift) == v2);
  }
  SECTION("malformed values pass unchanged (the kernel refuses them)") {
    CHECK(xattrToHost("security.capability", "xyz", kShift) == "xyz");
    CHECK(xattrToView("security.capability", capV3(1, 300000).substr(0, 23), kShift) ==
          capV3(1, 300000).substr(0, 23));
  }
}

TEST_CASE("id view: POSIX ACLs") {
  for (const char* name : {"system.posix_acl_access", "system.posix_acl_default"}) {
    CHECK(xattrToView(name, acl(301000, 400050), kShift) == acl(1000, 50));
    CHECK(xattrToHost(name, acl(1000, 50), kShift) == acl(301000, 400050));
    CHECK(xattrToView(name, acl(12, 13), kShift) == acl(12, 13));  // foreign ids stay
    CHECK_FALSE(xattrToHost(name, acl(70000, 1), kShift).has_value());
    CHECK_FALSE(xattrToHost(name, acl(1, 70000), kShift).has_value());
  }
  // Not an ACL of the known version, or a torn entry: left for the kernel to judge.
  std::string odd = le32(3) + aclEntry(0x02, 5, 301000);
  CHECK(xattrToView("system.posix_acl_access", odd, kShift) == odd);
  std::string torn = acl(301000, 400050).substr(0, 13);
  CHECK(xattrToView("system.posix_acl_access", torn, kShift) == torn);
}

TEST_CASE("id view: other xattrs pass unchanged") {
  std::string v = capV3(1, 300000);
  CHECK(xattrToView("user.note", v, kShift) == v);
  CHECK(xattrToHost("trusted.overlay.opaque", "y", kShift) == "y");
}
