#include "base/build_id.h"

#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <cstring>

#include <fmt/format.h>

namespace sv {

namespace {

// NT_GNU_BUILD_ID of the main program (the first object dl_iterate_phdr reports), as hex.
int findBuildId(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::string*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const char* desc = name + ((n->n_namesz + 3) & ~3u);
      const char* next = desc + ((n->n_descsz + 3) & ~3u);
      if (next > end) break;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        for (unsigned k = 0; k < n->n_descsz; ++k)
          *out += fmt::format("{:02x}", static_cast<unsigned char>(desc[k]));
        return 1;
      }
      p = next;
    }
  }
  return 1;  // only the main program
}

std::string compute() {
  std::string id;
  dl_iterate_phdr(findBuildId, &id);
  if (!id.empty()) return id;
  struct stat st {};
  ::stat("/proc/self/exe", &st);
  return fmt::format("exe-{}-{}.{}", st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

}  // namespace

const std::string& buildId() {
  static const std::string id = compute();
  return id;
}

}  // namespace sv
