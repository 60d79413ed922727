// OCI hooks (runtime-spec 1.2, config.md "POSIX-platform Hooks"): parsing config.json's
// `hooks` object and running hook programs with the container state on their stdin.
//
// Who runs which list, and where its path resolves:
//   prestart, createRuntime, poststart, poststop: the runtime, in the runtime's namespaces;
//     runHooks() / runHooksWarnOnFailure().
//   createContainer: the container init, in the container's namespaces but *before*
//     pivot_root, so its path resolves in the runtime's mount tree (the init's mount namespace
//     still shows the host's files around the rootfs).
//   startContainer: the container init after pivot_root, in the container's namespaces; its
//     path resolves in the container's mount namespace (inside the rootfs). Nothing may
//     allocate there: prepare() the list beforehand, runPreparedNoAlloc() it then.
//
// Every hook gets exactly its args and env (an absent env is the runtime's environment, as
// with runc), fds 0/1/2 only (stdin: the state JSON through a pipe; stdout/stderr: captured
// for the error message, bounded), default signal dispositions, an empty signal mask, and its
// own process group, which a timeout kills with SIGKILL. We wait for the hook to exit, not for
// EOF on its output (a daemon it leaves behind may hold that open). While a hook runs, SIGPIPE
// is blocked in the calling thread; one our write raised is consumed before it is unblocked.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/sys_error.h"

namespace sv::oci {

struct Hook {
  std::string path;               // absolute
  std::vector<std::string> args;  // argv; empty means {path}
  std::vector<std::string> env;   // the hook's whole environment
  // No "env" in config.json: the hook gets the runtime's environment, as with runc (whose
  // Go exec inherits it); hooks commonly rely on PATH.
  bool inheritEnv = false;
  int timeoutSec = 0;             // 0: none
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated by the spec, still run (before createRuntime)
  std::vector<Hook> createRuntime;
  std::vector<Hook> createContainer;
  std::vector<Hook> startContainer;
  std::vector<Hook> poststart;
  std::vector<Hook> poststop;
};

// A hook that failed: did not start, exited non-zero, was killed, or timed out. The message
// reads like runc's ("error running poststart hook #1: exit status 1, stdout: ..., stderr: ...").
// Failures of the runtime's own system calls while running a hook are SysError.
class HookError : public UserError {
 public:
  using UserError::UserError;
};

// Parses the `hooks` object (oci::Spec::hooksJson; "" means no hooks). Unknown hook kinds and
// unknown keys are ignored. Throws UserError naming the field, e.g.
// "config.json: hooks.poststart[1].path must be absolute".
Hooks parseHooks(const std::string& json);
// The same from the `hooks` object as already parsed (oci::Spec::hooks; null = no hooks).
Hooks readHooks(nlohmann::json hooks);

// Runs one hook and waits for it (at most its timeout). Index is its position in the list,
// for the message. cwd: the hook's working directory (nullptr: ours; runc and crun run
// runtime-namespace hooks in the bundle directory). Throws HookError or SysError.
void runHook(const Hook& h, std::string_view stateJson, std::string_view phase, size_t index,
             const char* cwd = nullptr);

// Runs the hooks in order and stops at the first failure, which it throws (prestart,
// createRuntime, createContainer, startContainer).
void runHooks(const std::vector<Hook>& hooks, std::string_view stateJson, std::string_view phase,
              const char* cwd = nullptr);

// Runs every hook; the failures (messages) are returned for the caller to log as warnings, and
// the rest still run (poststop, and poststart under runtime-spec 1.2).
std::vector<std::string> runHooksCollectingFailures(const std::vector<Hook>& hooks,
                                                    std::string_view stateJson,
                                                    std::string_view phase,
                                                    const char* cwd = nullptr);

// A hook list with every argv/envp array built, for runPreparedNoAlloc(). Self-contained
// (owns copies of the strings) and move-only: moving keeps every pointer valid.
class PreparedHooks {
 public:
  PreparedHooks() = default;
  PreparedHooks(PreparedHooks&&) noexcept = default;
  PreparedHooks& operator=(PreparedHooks&&) noexcept = default;
  PreparedHooks(const PreparedHooks&) = delete;
  PreparedHooks& operator=(const PreparedHooks&) = delete;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  friend PreparedHooks prepare(const std::vector<Hook>& hooks, std::string_view phase);
  friend int runPreparedNoAlloc(const PreparedHooks& prepared, const char* state, size_t len,
                                char* errbuf, size_t errlen) noexcept;
  struct Entry {
    const char* path;
    const char* const* argv;
    const char* const* envp;
    int timeoutSec;
  };
  std::vector<Hook> hooks_;        // the strings the pointers below point into
  std::vector<const char*> ptrs_;  // every argv and envp array, each null-terminated
  std::vector<Entry> entries_;
  std::string phase_;
};

// Builds the pointer arrays while allocation is still fine (before pivot_root).
PreparedHooks prepare(const std::vector<Hook>& hooks, std::string_view phase = "startContainer");

// Runs the prepared hooks in order with state[0..len) on their stdin; stops at the first
// failure. Only system calls and stack buffers: safe after pivot_root. Returns 0, or -1 with
// a NUL-terminated message (same words as runHooks) in errbuf. The hooks inherit the caller's
// working directory (in the init: the process's cwd, as in runc).
int runPreparedNoAlloc(const PreparedHooks& prepared, const char* state, size_t len, char* errbuf,
                       size_t errlen) noexcept;

}  // namespace sv::oci
