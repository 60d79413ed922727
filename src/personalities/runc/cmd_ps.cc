#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "personalities/runc/commands.h"

extern char** environ;

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"format", "f", FlagKind::kString, "select one of: table or json", "table"},
};

// Runs ps(1) with args and returns its output.
std::string runPs(const std::vector<std::string>& args) {
  int p[2];
  SV_SYSCALL(::pipe2(p, O_CLOEXEC), "pipe");
  UniqueFd readEnd(p[0]), writeEnd(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, writeEnd.get(), STDOUT_FILENO);
  std::vector<char*> argv{const_cast<char*>("ps")};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int err = ::posix_spawnp(&pid, "ps", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err != 0) throwSysError(err, "posix_spawnp", "ps (is procps installed?)");
  writeEnd.reset();
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = ::read(readEnd.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw UserError(fmt::format("ps {} failed", fmt::join(args, " ")));
  return out;
}

int run(const GlobalOptions& g, const ParsedFlags& f) {
  if (f.positionals.empty()) expectArgs(f, 1, "ps");
  std::string format = f.str("format", "table");
  std::vector<pid_t> pids = containerPids(g, f.positionals[0]);
  if (format == "json") {
    writeAll(STDOUT_FILENO, fmt::format("[{}]\n", fmt::join(pids, ",")), "stdout");
    return 0;
  }
  if (format != "table")
    throw UserError(fmt::format("invalid format option \"{}\": use table or json", format));
  std::vector<std::string> args(f.positionals.begin() + 1, f.positionals.end());
  if (args.empty()) args = {"-ef"};
  std::istringstream in(runPs(args));
  std::string header, line, out;
  std::getline(in, header);
  std::istringstream hs(header);
  std::string word;
  int pidColumn = -1;
  for (int i = 0; hs >> word; ++i)
    if (word == "PID") pidColumn = i;
  if (pidColumn < 0) throw UserError("ps output has no PID column: keep PID in the -o list");
  out = header + "\n";
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    for (int i = 0; ls >> word && i < pidColumn; ++i) {
    }
    pid_t pid = static_cast<pid_t>(std::atoi(word.c_str()));
    if (std::binary_search(pids.begin(), pids.end(), pid)) out += line + "\n";
  }
  writeAll(STDOUT_FILENO, out, "stdout");
  return 0;
}
}  // namespace

const Command kPsCommand{"ps", "<container-id> [ps options]",
                         "ps displays the processes running inside a container", kFlags, run,
                         true};

}  // namespace sv::runc
