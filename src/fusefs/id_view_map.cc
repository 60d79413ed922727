#include "fusefs/id_view_map.h"

#include <linux/capability.h>

#include <cstring>

namespace sv::fs {

namespace {

constexpr std::string_view kCapXattr = "security.capability";
constexpr std::string_view kAclAccess = "system.posix_acl_access";
constexpr std::string_view kAclDefault = "system.posix_acl_default";
// The POSIX ACL xattr format (linux/posix_acl_xattr.h): a 4-byte version, then 8-byte entries
// {le16 tag, le16 perm, le32 id}.
constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kAclUser = 0x02, kAclGroup = 0x08;
constexpr size_t kAclHeader = 4, kAclEntry = 8;

uint32_t le32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
}
uint16_t le16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}
void putLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t capRevision(std::string_view v) {
  return v.size() >= 4 ? le32(v.data()) & VFS_CAP_REVISION_MASK : 0;
}

std::optional<std::string> capToView(std::string_view v, const IdShift& s) {
  if (v.size() != XATTR_CAPS_SZ_3 || capRevision(v) != VFS_CAP_REVISION_3) return std::string(v);
  uint32_t root = le32(v.data() + XATTR_CAPS_SZ_2);
  uint32_t viewRoot = s.uidToView(root);
  if (viewRoot == root) return std::string(v);
  std::string out(v.substr(0, XATTR_CAPS_SZ_2));
  if (viewRoot == 0) {
    uint32_t flags = le32(v.data()) & ~VFS_CAP_REVISION_MASK;
    putLe32(out.data(), VFS_CAP_REVISION_2 | flags);
    return out;
  }
  out = std::string(v);
  putLe32(out.data() + XATTR_CAPS_SZ_2, viewRoot);
  return out;
}

std::optional<std::string> capToHost(std::string_view v, const IdShift& s) {
  uint32_t rev = capRevision(v);
  if (v.size() == XATTR_CAPS_SZ_2 && rev == VFS_CAP_REVISION_2) {
    std::string out(v);
    out.resize(XATTR_CAPS_SZ_3);
    putLe32(out.data(), VFS_CAP_REVISION_3 | (le32(v.data()) & ~VFS_CAP_REVISION_MASK));
    putLe32(out.data() + XATTR_CAPS_SZ_2, s.uidBase);
    return out;
  }
  if (v.size() == XATTR_CAPS_SZ_3 && rev == VFS_CAP_REVISION_3) {
    auto root = s.uidToHost(le32(v.data() + XATTR_CAPS_SZ_2));
    if (!root) return std::nullopt;
    std::string out(v);
    putLe32(out.data() + XATTR_CAPS_SZ_2, *root);
    return out;
  }
  return std::string(v);
}

template <typename Map>
std::optional<std::string> mapAcl(std::string_view v, Map map) {
  if (v.size() < kAclHeader || (v.size() - kAclHeader) % kAclEntry != 0 ||
      le32(v.data()) != kAclVersion)
    return std::string(v);
  std::string out(v);
  for (size_t off = kAclHeader; off < out.size(); off += kAclEntry) {
    uint16_t tag = le16(out.data() + off);
    if (tag != kAclUser && tag != kAclGroup) continue;
    std::optional<uint32_t> id = map(tag == kAclUser, le32(out.data() + off + 4));
    if (!id) return std::nullopt;
    putLe32(out.data() + off + 4, *id);
  }
  return out;
}

bool isAcl(std::string_view name) { return name == kAclAccess || name == kAclDefault; }

}  // namespace

std::optional<std::string> xattrToView(std::string_view name, std::string_view value,
                                       const IdShift& shift) {
  if (name == kCapXattr) return capToView(value, shift);
  if (isAcl(name))
    return mapAcl(value, [&](bool user, uint32_t id) -> std::optional<uint32_t> {
      return user ? shift.uidToView(id) : shift.gidToView(id);
    });
  return std::string(value);
}

std::optional<std::string> xattrToHost(std::string_view name, std::string_view value,
                                       const IdShift& shift) {
  if (name == kCapXattr) return capToHost(value, shift);
  if (isAcl(name))
    return mapAcl(value, [&](bool user, uint32_t id) {
      return user ? shift.uidToHost(id) : shift.gidToHost(id);
    });
  return std::string(value);
}

}  // namespace sv::fs
