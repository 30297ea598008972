// core/audit.h — the audit log: one JSON line on stderr, marked
// "audit": true with the time, for every trust decision (a manifest accepted
// or quarantined, a mirror's vetting verdict).
#pragma once

#include <nlohmann/json_fwd.hpp>

namespace keep {

void Audit(const nlohmann::json& event);

}  // namespace keep
