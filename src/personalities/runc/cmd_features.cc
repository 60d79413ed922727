// `features`: what this runtime supports, as runtime-spec features.md describes (the same
// document `runc features` prints). Built from the tables the runtime itself uses, so it
// cannot claim what the code does not do.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/file_util.h"
#include "nsutil/mount_options.h"
#include "nsutil/seccomp.h"
#include "oci/spec.h"
#include "personalities/runc/commands.h"

namespace sv::runc {

namespace {

std::string featuresJson() {
  using Json = nlohmann::ordered_json;
  Json j;
  j["ociVersionMin"] = "1.0.0";
  j["ociVersionMax"] = "1.2.0";
  j["hooks"] = {"prestart",       "createRuntime", "createContainer",
                "startContainer", "poststart",     "poststop"};
  j["mountOptions"] = ns::knownMountOptions();
  Json& linux = j["linux"];
  linux["namespaces"] = oci::namespaceNames();
  linux["capabilities"] = oci::capabilityNames();
  linux["cgroup"] = {{"v1", true}, {"v2", true}, {"systemd", true}, {"systemdUser", false},
                     {"rdma", true}};
  ns::seccomp::Features sc = ns::seccomp::features();
  linux["seccomp"] = {{"enabled", true},
                      {"actions", sc.actions},
                      {"operators", sc.operators},
                      {"archs", sc.archs},
                      {"knownFlags", sc.knownFlags},
                      {"supportedFlags", sc.supportedFlags}};
  linux["apparmor"] = {{"enabled", true}};
  linux["selinux"] = {{"enabled", true}};
  linux["intelRdt"] = {{"enabled", false}};
  linux["mountExtensions"] = {{"idmap", {{"enabled", true}}}};
  j["annotations"] = {{"io.github.seccomp.libseccomp.version", sc.libseccompVersion},
                      {"org.opencontainers.runc.checkpoint.enabled", "false"},
                      {"org.opencontainers.runc.version", SV_VERSION},
                      {"io.github.sysvisor.version", SV_VERSION}};
  j["potentiallyUnsafeConfigAnnotations"] = Json::array();
  return j.dump(4) + "\n";
}

int run(const GlobalOptions&, const ParsedFlags& f) {
  expectArgs(f, 0, "features");
  writeAll(STDOUT_FILENO, featuresJson(), "stdout");
  return 0;
}

}  // namespace

const Command kFeaturesCommand = {"features", "", "show the enabled features", {}, run};

}  // namespace sv::runc
