// config.json → oci::parseSpec → the system-container transform (runc::toSystemContainer) →
// the launch planner, the path `sysvisor-runc create` takes for a system container. A few bits
// of the input's hash choose the transform's other inputs (mgr's range or none, systemd as
// init, a modules directory). Checks what syscont.h promises: a refusal (SysContError) leaves
// the spec as it was; an accepted spec has a user and a cgroup namespace, id mappings of at
// least kMinIdRange ids, and the range the result names.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/sys_error.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/spec_digest.h"
#include "nsutil/plan.h"
#include "oci/spec.h"
#include "personalities/runc/syscont.h"

namespace {

bool hasNs(const sv::oci::Spec& spec, sv::oci::NsType t) {
  if (!spec.linux) return false;
  for (const auto& n : spec.linux->namespaces)
    if (n.type == t) return true;
  return false;
}

void checkAccepted(const sv::oci::Spec& spec, const sv::runc::SysContResult& r) {
  SV_FUZZ_CHECK(spec.linux.has_value(), "no linux section");
  SV_FUZZ_CHECK(hasNs(spec, sv::oci::NsType::kUser), "no user namespace");
  SV_FUZZ_CHECK(hasNs(spec, sv::oci::NsType::kCgroup), "no cgroup namespace");
  SV_FUZZ_CHECK(r.range.size >= sv::runc::kMinIdRange, std::to_string(r.range.size));
  SV_FUZZ_CHECK(sv::runc::specHasIdMappings(spec), "no id mappings");
  // Container root is mapped to the range's base.
  bool rootMapped = false;
  for (const auto& m : spec.linux->uidMappings)
    if (m.containerID == 0 && m.size > 0) rootMapped = m.hostID == r.range.uidBase;
  SV_FUZZ_CHECK(rootMapped, std::to_string(r.range.uidBase));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::quietLogs();
  std::optional<sv::oci::Spec> parsed = sv::fuzz::parsedSpec(data, size);
  if (!parsed) return 0;
  sv::oci::Spec& spec = *parsed;
  const uint64_t h = sv::fuzz::inputHash(data, size);
  sv::runc::SysContInputs in;
  // As the runtime does: mgr is asked only when the spec maps no ids itself.
  if (!sv::runc::specHasIdMappings(spec) && (h & 7) != 0)
    in.range = sv::runc::IdRange{165536, 165536, 65536};
  if (h & 8) in.modulesDir = "/lib/modules/6.1.0-13-amd64";
  in.systemdInit = (h & 16) != 0;

  const std::string before = sv::fuzz::digest(spec);
  sv::runc::SysContResult result;
  try {
    result = sv::runc::toSystemContainer(spec, in);
  } catch (const sv::runc::SysContError&) {
    SV_FUZZ_CHECK(sv::fuzz::digest(spec) == before, "a refused spec was changed");
    return 0;
  }
  checkAccepted(spec, result);
  (void)sv::runc::namespacesToCheckAgainstHost(spec);

  spec.root.path = "rootfs";
  sv::ns::PlanOptions options;
  options.bundle = sv::fuzz::scratchBundle();
  try {
    sv::ns::LaunchPlan plan = sv::ns::buildPlan(spec, options);
    SV_FUZZ_CHECK(plan.newUserNs || !plan.joins.empty(), "a system container without userns");
  } catch (const sv::oci::SpecError&) {
  } catch (const sv::UserError&) {
  }
  return 0;
}
