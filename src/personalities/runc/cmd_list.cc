#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {
constexpr FlagSpec kFlags[] = {
    {"format", "f", FlagKind::kString, "select one of: table or json", "table"},
    {"quiet", "q", FlagKind::kBool, "display only container IDs"},
};

struct Row {
  ContainerState state;
  Status status;
};

std::string ownerOf(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return "";
  struct passwd pw, *res = nullptr;
  char buf[1024];
  if (::getpwuid_r(st.st_uid, &pw, buf, sizeof buf, &res) == 0 && res) return pw.pw_name;
  return fmt::format("#{}", st.st_uid);
}

// Go's text/tabwriter as runc uses it: minwidth 12, padding 3, the last column unpadded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i + 1 < r.size(); ++i) {
      if (width.size() <= i) width.push_back(12);
      width[i] = std::max(width[i], r[i].size() + 3);
    }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out.append(width[i] - r[i].size(), ' ');
    }
    out += '\n';
  }
  return out;
}

int run(const GlobalOptions& g, const ParsedFlags& f) {
  expectArgs(f, 0, "list");
  std::string format = f.str("format", "table");
  if (format != "table" && format != "json")
    throw UserError(fmt::format("invalid format option \"{}\": use table or json", format));
  StateStore store(g.root);
  std::vector<Row> rows;
  for (const auto& id : store.list()) {
    std::optional<ContainerState> s;
    try {
      s = store.load(id);
    } catch (const std::exception&) {
      continue;  // a corrupt entry must not hide the others
    }
    if (!s) continue;
    // `state` reports the owner field as written (""), `list` the state dir's owner, as runc.
    s->owner = ownerOf(store.dir(id));
    rows.push_back({*s, store.status(*s)});
  }
  std::string out;
  if (f.flag("quiet")) {
    for (const auto& r : rows) out += r.state.id + "\n";
  } else if (format == "json") {
    if (rows.empty()) {
      out = "null\n";
    } else {
      out = "[";
      for (const auto& r : rows) {
        if (out.size() > 1) out += ',';
        out += stateReport(r.state, r.status, false);
      }
      out += "]\n";
    }
  } else {
    std::vector<std::vector<std::string>> cells{{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
    for (const auto& r : rows)
      cells.push_back({r.state.id, std::to_string(r.status == Status::kStopped ? 0 : r.state.pid),
                       statusName(r.status), r.state.bundle, r.state.created, r.state.owner});
    out = table(cells);
  }
  writeAll(STDOUT_FILENO, out, "stdout");
  return 0;
}
}  // namespace

const Command kListCommand{"list", "", "lists containers started by runc with the given root",
                           kFlags, run};

}  // namespace sv::runc
