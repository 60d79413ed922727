// What the unit suites share: a temporary directory, writing a fixture file, and the message of
// an expected exception. Reading a file back is sv::readFile (base/file_util.h), which fails the
// test with the path when the file is missing.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "base/sys_error.h"

namespace sv::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at scope exit. The path
// is canonical, so it compares equal to what the kernel reports (pwd -P, /proc/<pid>/cwd).
class TempDir {
 public:
  TempDir() : path(create()) {}
  ~TempDir() {
    std::error_code ec;  // never throw from a destructor; a leftover dir is not a test failure
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(std::string_view name) const { return path + "/" + std::string(name); }

  const std::string path;

 private:
  static std::string create() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sv-unit.XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    return std::filesystem::canonical(tmpl).string();
  }
};

// Writes text to path (replacing it), creating the missing parent directories.
inline void writeFile(const std::filesystem::path& path, std::string_view text) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Runs f and returns the message of the E it throws; fails the test if it throws nothing. Any
// other exception escapes and fails the test with its own message. Callers name the input with
// INFO so a failure says what was wrongly accepted.
template <typename E = sv::UserError, typename F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an error, but nothing was thrown");
  return {};
}

}  // namespace sv::test
