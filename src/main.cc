// sysvisor: one binary, several roles, chosen by basename(argv[0]) or the first argument.
#include <unistd.h>

#include <string_view>

#include "fusefs/id_view.h"
#include "fusefs/proc_sys.h"
#include "personalities/fs/fs.h"
#include "personalities/mgr/mgr.h"
#include "personalities/runc/commands.h"

namespace {

struct Role {
  std::string_view installedName;  // basename(argv[0])
  std::string_view subcommand;     // `sysvisor <subcommand>`
  int (*main)(int, char**);
};

constexpr Role kRoles[] = {
    {"sysvisor-runc", "runc", sv::runc::runcMain},
    {"sysvisor-fs", "fs", sv::fsd::fsMain},
    {"sysvisor-mgr", "mgr", sv::mgr::mgrMain},
};

int usage(int fd) {
  dprintf(fd,
          "usage: sysvisor <role> [arguments...]\n\nroles:\n"
          "  runc   OCI runtime (installed as sysvisor-runc)\n"
          "  fs     FUSE /proc and /sys emulation daemon (sysvisor-fs)\n"
          "  mgr    manager daemon: id ranges, storage, status (sysvisor-mgr)\n\n"
          "  --version   print the version\n");
  return fd == STDOUT_FILENO ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view self = argv[0];
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  for (const Role& r : kRoles)
    if (self == r.installedName) return r.main(argc, argv);
  if (argc < 2) return usage(STDERR_FILENO);
  std::string_view sub = argv[1];
  if (sub == "--version" || sub == "-v") {
    dprintf(STDOUT_FILENO, "sysvisor version %s\n", SV_VERSION);
    return 0;
  }
  if (sub == "--help" || sub == "-h" || sub == "help") return usage(STDOUT_FILENO);
  for (const Role& r : kRoles)
    if (sub == r.subcommand) return r.main(argc - 1, argv + 1);
  // Hidden: sysvisor-fs's helper for user- and pid-namespace sysctls.
  if (sub == "nsexec") sv::fs::nsexecMain(argc - 1, argv + 1);
  // Hidden: the engine's id-shifting view of a directory, in the foreground (tests).
  if (sub == "idview") return sv::fs::idViewMain(argc - 1, argv + 1);
  dprintf(STDERR_FILENO, "sysvisor: unknown role \"%s\"\n", argv[1]);
  return usage(STDERR_FILENO);
}
