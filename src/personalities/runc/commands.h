// The runc command table: one thin file per command (cmd_*.cc), each a Command value.
#pragma once

#include <span>
#include <string_view>

#include "personalities/runc/flags.h"
#include "personalities/runc/lifecycle.h"

namespace sv::runc {

struct Command {
  std::string_view name;
  std::string_view argsUsage;  // "<container-id>"
  std::string_view summary;
  std::span<const FlagSpec> flags;
  int (*run)(const GlobalOptions&, const ParsedFlags&);
  bool stopAtPositional = false;
  std::span<const FlagSpec> moreFlags = {};  // a second table (run = create's + its own)
};

// The flags `create` and `run` share, and the options they give.
inline constexpr FlagSpec kCreateFlags[] = {
    {"bundle", "b", FlagKind::kString, "path to the root of the bundle directory", "current directory"},
    {"console-socket", "", FlagKind::kString, "path to an AF_UNIX socket which will receive the pty master"},
    {"pid-file", "", FlagKind::kString, "specify the file to write the process id to"},
    {"no-pivot", "", FlagKind::kBool, "do not use pivot root to jail process inside rootfs"},
    {"no-new-keyring", "", FlagKind::kBool, "do not create a new session keyring for the container"},
    {"preserve-fds", "", FlagKind::kInt, "pass N additional file descriptors to the container", "0"},
};
CreateOptions createOptionsFrom(const ParsedFlags& f);

extern const Command kCreateCommand;
extern const Command kStartCommand;
extern const Command kRunCommand;
extern const Command kStateCommand;
extern const Command kListCommand;
extern const Command kKillCommand;
extern const Command kDeleteCommand;
extern const Command kSpecCommand;
extern const Command kPauseCommand;
extern const Command kResumeCommand;
extern const Command kPsCommand;
extern const Command kExecCommand;
extern const Command kUpdateCommand;
extern const Command kEventsCommand;
extern const Command kFeaturesCommand;

// Returns positional i or throws UserError naming the command's usage.
const std::string& requireArg(const ParsedFlags& f, size_t i, std::string_view command,
                              std::string_view what);
// Throws unless exactly n positionals were given (runc: "... requires exactly 1 argument(s)").
void expectArgs(const ParsedFlags& f, size_t n, std::string_view command);

// The entry point of the runc role.
int runcMain(int argc, char** argv);

}  // namespace sv::runc
