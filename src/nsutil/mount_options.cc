#include "nsutil/mount_options.h"

#include <linux/mount.h>
#include <sys/mount.h>

#include <algorithm>
#include <string_view>

namespace sv::ns {

namespace {

struct FlagWord {
  std::string_view word;
  bool clear;  // the word turns the flag off
  unsigned long flag;
};

constexpr FlagWord kFlagWords[] = {
    {"defaults", false, 0},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"suid", true, MS_NOSUID},
    {"nosuid", false, MS_NOSUID},
    {"dev", true, MS_NODEV},
    {"nodev", false, MS_NODEV},
    {"exec", true, MS_NOEXEC},
    {"noexec", false, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},
    {"noatime", false, MS_NOATIME},
    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"lazytime", false, MS_LAZYTIME},
    {"nolazytime", true, MS_LAZYTIME},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
    {"iversion", false, MS_I_VERSION},
    {"noiversion", true, MS_I_VERSION},
};

struct PropagationWord {
  std::string_view word;
  unsigned long flags;
};

constexpr PropagationWord kPropagationWords[] = {
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

struct RecursiveWord {
  std::string_view word;
  bool clear;
  uint64_t attr;  // MOUNT_ATTR_*
};

// runc's recursive mount options (runtime-spec 1.1), applied to a whole mount tree.
constexpr RecursiveWord kRecursiveWords[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},        {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},    {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},      {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},    {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME}, {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW}, {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

}  // namespace

std::vector<std::string_view> knownMountOptions() {
  std::vector<std::string_view> out = {"bind", "rbind", "tmpcopyup", "idmap", "ridmap"};
  for (const auto& f : kFlagWords) out.push_back(f.word);
  for (const auto& p : kPropagationWords) out.push_back(p.word);
  for (const auto& r : kRecursiveWords) out.push_back(r.word);
  std::sort(out.begin(), out.end());
  return out;
}

unsigned long propagationFlags(const std::string& word) {
  for (const auto& p : kPropagationWords)
    if (p.word == word) return p.flags;
  return 0;
}

ParsedMountOptions parseMountOptions(const std::vector<std::string>& options) {
  ParsedMountOptions out;
  for (const auto& opt : options) {
    if (opt == "bind" || opt == "rbind") {
      out.bind = true;
      out.recursive = out.recursive || opt == "rbind";
      continue;
    }
    bool known = false;
    for (const auto& f : kFlagWords) {
      if (f.word != opt) continue;
      known = true;
      if (f.clear) {
        out.flags &= ~f.flag;
        out.clearFlags |= f.flag;
      } else {
        out.flags |= f.flag;
        out.clearFlags &= ~f.flag;
      }
      break;
    }
    if (known) continue;
    if (unsigned long p = propagationFlags(opt)) {
      out.propagation.push_back(p);
      continue;
    }
    bool recursive = false;
    for (const auto& r : kRecursiveWords) {
      if (r.word != opt) continue;
      recursive = true;
      (r.clear ? out.recAttrClr : out.recAttrSet) |= r.attr;
      (r.clear ? out.recAttrSet : out.recAttrClr) &= ~r.attr;
    }
    if (recursive) continue;
    // Runtime-only words that are not filesystem data.
    if (opt == "tmpcopyup" || opt == "idmap" || opt == "ridmap") continue;
    if (!out.data.empty()) out.data += ',';
    out.data += opt;
  }
  return out;
}

}  // namespace sv::ns
