#include "personalities/runc/commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "oci/spec.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"bundle", "b", FlagKind::kString, "path to the root of the bundle directory"},
    {"rootless", "", FlagKind::kBool, "generate a configuration for a rootless container"},
};

int run(const GlobalOptions&, const ParsedFlags& f) {
  expectArgs(f, 0, "spec");
  std::string dir = f.str("bundle", ".");
  std::string path = dir + "/config.json";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0 && errno == EEXIST)
    throw UserError("File config.json exists. Remove it first.");
  if (fd < 0) throwSysError(errno, "open", fmt::format("'{}'", path));
  UniqueFd owned(fd);
  writeAll(fd, oci::defaultSpecJson(f.flag("rootless")), path);
  return 0;
}
}  // namespace

const Command kSpecCommand{"spec", "", "create a new specification file", kFlags, run};

}  // namespace sv::runc
