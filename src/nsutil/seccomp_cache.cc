#include "nsutil/seccomp_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <string>

#include "base/unique_fd.h"

namespace sv::ns::seccomp::cache {
namespace {

// An entry: this header, the identity, the instructions (host byte order: the cache never
// leaves the host).
struct Header {
  char magic[8];
  uint32_t identityLength;
  uint32_t instructions;
};
constexpr char kMagic[8] = {'s', 'v', 's', 'e', 'c', 'c', '0', '1'};
constexpr std::string_view kSuffix = ".bpf";

// FNV-1a: it only spreads entries over file names; the stored identity decides a hit.
std::string fileName(std::string_view identity) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : identity) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}{}", h, kSuffix);
}

bool preadAll(int fd, char* buf, size_t size) {
  for (size_t done = 0; done < size;) {
    ssize_t n = ::pread(fd, buf + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool writeAll(int fd, const char* buf, size_t size) {
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, buf + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// With kMaxEntries entries already there, removes them all (and leftovers of interrupted
// stores): hosts use a handful of profiles, so reaching the bound means churn, not a
// working set worth ranking.
void evictIfFull(int dirfd) {
  int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return;
  }
  std::vector<std::string> names;
  size_t entries = 0;
  while (const dirent* d = ::readdir(dir)) {
    std::string_view name = d->d_name;
    if (name == "." || name == "..") continue;
    if (name.ends_with(kSuffix)) ++entries;
    names.emplace_back(name);
  }
  ::closedir(dir);
  if (entries < kMaxEntries) return;
  for (const std::string& name : names) ::unlinkat(dirfd, name.c_str(), 0);
}

}  // namespace

std::optional<std::vector<sock_filter>> find(int dirfd, std::string_view identity) {
  UniqueFd fd(::openat(dirfd, fileName(identity).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size <= sizeof(Header) + identity.size()) return std::nullopt;
  const size_t instructions = (size - sizeof(Header) - identity.size()) / sizeof(sock_filter);
  if (instructions == 0 || instructions > BPF_MAXINSNS ||
      size != sizeof(Header) + identity.size() + instructions * sizeof(sock_filter))
    return std::nullopt;
  std::string buf(size, '\0');
  if (!preadAll(fd.get(), buf.data(), size)) return std::nullopt;
  Header h;
  std::memcpy(&h, buf.data(), sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0 || h.identityLength != identity.size() ||
      h.instructions != instructions ||
      std::string_view(buf).substr(sizeof h, identity.size()) != identity)
    return std::nullopt;
  std::vector<sock_filter> filter(instructions);
  std::memcpy(filter.data(), buf.data() + sizeof h + identity.size(),
              instructions * sizeof(sock_filter));
  return filter;
}

void store(int dirfd, std::string_view identity, const std::vector<sock_filter>& filter) noexcept {
  try {
    evictIfFull(dirfd);
    const std::string name = fileName(identity);
    // Written aside and renamed into place: readers see a whole entry or none.
    const std::string tmp = fmt::format(".{}.{}", name, ::getpid());
    UniqueFd fd(
        ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return;
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.identityLength = static_cast<uint32_t>(identity.size());
    h.instructions = static_cast<uint32_t>(filter.size());
    std::string buf(reinterpret_cast<const char*>(&h), sizeof h);
    buf += identity;
    buf.append(reinterpret_cast<const char*>(filter.data()), filter.size() * sizeof(sock_filter));
    if (!writeAll(fd.get(), buf.data(), buf.size()) ||
        ::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0)
      ::unlinkat(dirfd, tmp.c_str(), 0);
  } catch (...) {
    // bad_alloc: no entry, that is all.
  }
}

}  // namespace sv::ns::seccomp::cache
