// Steps shared by the lifecycle files (lifecycle.cc: create/start/delete/...; exec.cc: exec),
// not part of the commands' interface.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>

#include "base/unique_fd.h"
#include "nsutil/plan.h"
#include "nsutil/seccomp.h"
#include "oci/spec.h"
#include "personalities/runc/state_store.h"

namespace sv::runc {

// The fds 3..3+n-1 that --preserve-fds passes must be open in the caller.
void checkPreservedFds(int n);
// The bundle's config.json, parsed; UserError names the file and the field.
oci::Spec loadSpec(const std::string& bundle);
// Clears LSM labels the host cannot apply (with a debug line), as runc does.
void dropUnsupportedLsmLabels(ns::LaunchPlan& plan);
// linux.seccomp (null: none) compiled through the cache under --root.
ns::seccomp::Program compileSeccomp(const StateStore& store, const nlohmann::json& profile);
// Hands a seccomp notify listener to the agent at linux.seccomp.listenerPath.
void sendSeccompListener(const ns::seccomp::Program& p, const ContainerState& s,
                         const char* status, pid_t pid, UniqueFd listener);
// The pid file: decimal pid, no newline, written atomically.
void writePidFile(const std::string& path, pid_t pid);
// A pidfd of the container's init, or an invalid fd once it is gone (never a recycled pid).
UniqueFd openInit(const ContainerState& s);

}  // namespace sv::runc
