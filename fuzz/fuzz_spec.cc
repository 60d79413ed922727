// config.json → oci::parseSpec → the OCI launch planner (ns::buildPlan), as `sysvisor-runc
// create --oci-only` does with a bundle. Expected refusals are SpecError and UserError; any
// other exception, a sanitizer report or a hang is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/sys_error.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/spec_digest.h"
#include "nsutil/plan.h"
#include "oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sv::fuzz::quietLogs();
  std::optional<sv::oci::Spec> parsed = sv::fuzz::parsedSpec(data, size);
  if (!parsed) return 0;
  sv::oci::Spec& spec = *parsed;
  // What parsed must be one of the spec's namespaces, capabilities and rlimits.
  if (spec.linux) {
    for (const auto& n : spec.linux->namespaces) {
      auto back = sv::oci::nsTypeFromName(sv::oci::nsName(n.type));
      SV_FUZZ_CHECK(back && *back == n.type, sv::oci::nsName(n.type));
    }
  }
  if (spec.process) {
    for (const auto& r : spec.process->rlimits)
      SV_FUZZ_CHECK(sv::oci::rlimitFromName(sv::oci::rlimitName(r.resource)) == r.resource,
                    sv::oci::rlimitName(r.resource));
  }
  // The planner on the bundle's own rootfs whatever root.path says (a missing rootfs is only
  // the first of its refusals).
  spec.root.path = "rootfs";
  sv::ns::PlanOptions options;
  options.bundle = sv::fuzz::scratchBundle();
  try {
    sv::ns::LaunchPlan plan = sv::ns::buildPlan(spec, options);
    SV_FUZZ_CHECK(plan.rootfs == sv::fuzz::scratchBundle() + "/rootfs", plan.rootfs);
    SV_FUZZ_CHECK(plan.fsBindsAt <= plan.mounts.size(), "");
    for (const auto& m : plan.mounts)
      SV_FUZZ_CHECK(!m.destination.empty() && m.destination[0] == '/', m.destination);
  } catch (const sv::oci::SpecError&) {
  } catch (const sv::UserError&) {
  }
  return 0;
}
