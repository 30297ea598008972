// core/audit.h — the audit log: who did what, when and from where, for every
// trust decision (a manifest accepted or quarantined, a signature accepted
// or refused, a pull refused, a mirror's vetting verdict) and every change
// made through the admin API.
//
// Audit() writes one JSON line on stderr, marked "audit": true with the
// time, for log shippers; and hands the event to the sink the server
// installed (SetAuditSink), which keeps it in the metadata database so that
// the admin API can answer queries (GET /admin/v1/audit). core knows no
// storage: the sink is a plain function.
//
// Thread-safe: any thread may call Audit(); SetAuditSink() is called at
// start, before any Audit(), and at shutdown, after the last.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>

namespace keep {

// Who the audit log names for what keepd does by itself (a mirror sync, a
// keyless signature verified again, a scheduled garbage collection).
inline constexpr const char* kAuditActorKeepd = "keepd";
// Who it names for a caller that gave no credentials.
inline constexpr const char* kAuditActorAnonymous = "anonymous";

struct AuditEvent {
  // The fixed vocabulary ("manifest.push", "pull.refused", "key.add", ...;
  // README.md, "Audit log", lists them).
  std::string action;
  // A user or robot name, kAuditActorAnonymous or kAuditActorKeepd.
  std::string actor = kAuditActorKeepd;
  // The client's address as keepd sees it; empty for keepd's own actions.
  std::string source;
  // The namespace the event concerns; empty for global ones (users, trust roots).
  std::string ns;
  // What it concerns: a repository, repository@digest, repository:tag, a
  // key id, a user, a rule name.
  std::string target;
  // "ok", or what else happened ("refused", "quarantined", "failed").
  std::string outcome = "ok";
  // Anything else worth keeping (an object); its "event" is the line's
  // human-readable name (as in earlier releases).
  nlohmann::json details = nlohmann::json::object();
};

// An event as the sink receives it: stamped with the time (unix ms, UTC).
struct AuditRecord {
  std::int64_t time_ms = 0;
  AuditEvent event;
};

using AuditSink = std::function<void(AuditRecord)>;

// Installs the sink every later Audit() hands its event to (empty: none).
void SetAuditSink(AuditSink sink);

// The actor an identity is named by in the log: its name, or anonymous.
inline std::string AuditActor(const std::string& user) {
  return user.empty() ? std::string(kAuditActorAnonymous) : user;
}

// Writes the stderr line and hands the event to the sink. Never fails: what
// the sink does with it (and whether that works) is the sink's business.
void Audit(AuditEvent event);

// The stderr line of a record (also what GET /admin/v1/audit shows of it,
// less "audit": true).
nlohmann::json AuditLine(const AuditRecord& record);

}  // namespace keep
