// What the libFuzzer targets share: a private scratch directory (the handlers under test write
// their tables and stores there, never to /var/lib/sysvisor or /run/sysvisor), quiet logging,
// and an invariant check that aborts with a message (a finding, like a sanitizer report).
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "base/log.h"

namespace sv::fuzz {

// Aborts with what was violated: libFuzzer keeps the input as a crash.
[[noreturn]] inline void violated(const char* what, std::string_view detail = {}) {
  ::fprintf(stderr, "fuzz invariant violated: %s %.*s\n", what, static_cast<int>(detail.size()),
            detail.data());
  ::abort();
}
#define SV_FUZZ_CHECK(cond, detail) \
  do {                              \
    if (!(cond)) ::sv::fuzz::violated(#cond, (detail)); \
  } while (0)

// A directory under $TMPDIR (or /tmp) for the whole run, removed at exit. Canonical, so the
// paths the code under test derives from it compare equal.
class ScratchDir {
 public:
  ScratchDir() : path(create()) {}
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(std::string_view name) const { return path + "/" + std::string(name); }
  // Empties dir (made if missing) below the scratch directory and returns its path.
  std::string fresh(std::string_view name) const {
    std::string p = file(name);
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
    std::filesystem::create_directories(p);
    return p;
  }

  const std::string path;

 private:
  static std::string create() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sv-fuzz.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) violated("mkdtemp", tmpl);
    return std::filesystem::canonical(tmpl).string();
  }
};

// The run's scratch directory, made on first use (no work in global constructors).
inline const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

// A bundle with an empty rootfs (only /etc) in the scratch directory, made on first use: the
// launch planner resolves root.path against it.
inline const std::string& scratchBundle() {
  static const std::string dir = [] {
    std::string b = scratch().fresh("bundle");
    std::filesystem::create_directories(b + "/rootfs/etc");
    return b;
  }();
  return dir;
}

// Log lines of the code under test go nowhere: millions of them would only slow the run.
inline void quietLogs() {
  static const bool done = [] {
    log::init("/dev/null", log::Format::kText, log::Level::kError);
    return true;
  }();
  (void)done;
}

// FNV-1a of the input: a few bits of choice (flags, ranges) that stay stable for an input.
inline uint64_t inputHash(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace sv::fuzz
