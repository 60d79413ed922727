// What the spec targets share: the input parsed as config.json, and a spec's values as one JSON
// text, so a target can tell whether a function changed a spec (oci::Spec has no operator==;
// its json members would make a defaulted one slow anyway).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "oci/spec.h"

namespace sv::fuzz {

// The input as config.json, or nullopt for an expected refusal (SpecError); anything else
// thrown is a finding.
inline std::optional<oci::Spec> parsedSpec(const uint8_t* data, size_t size) {
  try {
    return oci::parseSpec(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const oci::SpecError&) {
    return std::nullopt;
  }
}

inline nlohmann::json digestMaps(const std::vector<oci::IdMapping>& maps) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& m : maps) out.push_back({m.containerID, m.hostID, m.size});
  return out;
}

inline std::string digest(const oci::Spec& s) {
  using nlohmann::json;
  json j;
  j["root"] = {s.root.path, s.root.readonly};
  j["hostname"] = {s.hostname, s.domainname};
  j["annotations"] = s.annotations;
  j["hooks"] = {s.hooksJson, s.hooks};
  for (const auto& m : s.mounts) {
    j["mounts"].push_back({m.destination, m.type, m.source, m.options, digestMaps(m.uidMappings),
                           digestMaps(m.gidMappings), m.idmapIfSupported});
  }
  if (s.process) {
    const oci::Process& p = *s.process;
    j["process"] = {p.args, p.env, p.cwd, p.user.uid, p.user.gid, p.user.additionalGids,
                    p.noNewPrivileges, p.apparmorProfile, p.selinuxLabel, p.terminal};
    if (p.capabilities) {
      const auto& c = *p.capabilities;
      j["caps"] = {c.bounding, c.effective, c.inheritable, c.permitted, c.ambient};
    }
    for (const auto& r : p.rlimits) j["rlimits"].push_back({r.resource, r.hard, r.soft});
  }
  if (s.linux) {
    const oci::Linux& l = *s.linux;
    for (const auto& n : l.namespaces) j["ns"].push_back({static_cast<int>(n.type), n.path});
    j["uidMappings"] = digestMaps(l.uidMappings);
    j["gidMappings"] = digestMaps(l.gidMappings);
    for (const auto& d : l.devices) j["devices"].push_back({d.path, d.type, d.major, d.minor});
    j["cgroupsPath"] = l.cgroupsPath;
    j["resources"] = {l.resourcesJson, l.resources};
    j["seccomp"] = {l.seccompJson, l.seccomp};
    j["paths"] = {l.maskedPaths, l.readonlyPaths, l.rootfsPropagation};
    j["sysctl"] = l.sysctl;
  }
  // Strings in a spec come from JSON text, so they are valid UTF-8; replace, never throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace sv::fuzz
