// The admin API's audit log: GET /admin/v1/audit (docs/admin-api.md).
// Admins see every event; a namespace's maintainers see that namespace's
// events (they must name it with ?namespace=).
#include "server/audit_writer.h"
#include "server/handlers/admin_json.h"

#include "core/clock.h"

#include <algorithm>
#include <charconv>

namespace keep::server::handlers {
namespace {

using namespace admin;

constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 1000;

constexpr std::string_view kParams[] = {"namespace", "since", "until", "user",
                                        "action",    "limit", "before"};

Result<std::int64_t> Number(const std::string& name, const std::string& text, std::int64_t min,
                            std::int64_t max) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max) {
    return Fail(ErrorCode::kInvalid, "?" + name + "= must be a whole number from " +
                                         std::to_string(min) + " to " + std::to_string(max));
  }
  return n;
}

// An action as the vocabulary spells them ("key.add"), or a family of them
// ("key." or "key.*").
bool IsActionText(std::string_view a) {
  if (a.empty() || a.size() > 64) return false;
  for (char c : a) {
    if (!((c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '*')) return false;
  }
  return a.find('*') == a.npos || (a.ends_with(".*") && a.find('*') == a.size() - 1);
}

Result<AuditQuery> ReadQuery(const Exchange& ex) {
  for (const auto& [key, value] : ex.query_params()) {
    if (std::find(std::begin(kParams), std::end(kParams), key) == std::end(kParams)) {
      return Fail(ErrorCode::kInvalid, "unknown parameter ?" + key +
                                           "=; the audit log takes namespace, since, until, "
                                           "user, action, limit and before");
    }
  }
  AuditQuery q;
  q.limit = kDefaultLimit;
  const std::int64_t now = UnixNow();
  if (auto ns = ex.query("namespace")) {
    KEEP_TRY(ValidateNamespaceName(*ns));
    q.ns = *ns;
  }
  if (auto since = ex.query("since")) {
    auto t = ParseMoment(*since, now);
    if (!t) return Fail(ErrorCode::kInvalid, "?since=: " + t.error().message);
    q.since_ms = *t * 1000;
  }
  if (auto until = ex.query("until")) {
    auto t = ParseMoment(*until, now);
    if (!t) return Fail(ErrorCode::kInvalid, "?until=: " + t.error().message);
    q.until_ms = *t * 1000;
  }
  if (auto user = ex.query("user")) {
    if (*user != kAuditActorAnonymous && *user != kAuditActorKeepd && !ValidateAccountName(*user) &&
        !ValidateRobotName(*user)) {
      return Fail(ErrorCode::kInvalid, "?user= names no possible user or robot account");
    }
    q.actor = *user;
  }
  if (auto action = ex.query("action")) {
    if (!IsActionText(*action)) {
      return Fail(ErrorCode::kInvalid,
                  "?action= is an action such as manifest.push or key.add, or a family such as "
                  "key.* (README.md lists them)");
    }
    if (action->ends_with(".*")) {
      q.action_prefix = action->substr(0, action->size() - 1);
    } else if (action->ends_with(".")) {
      q.action_prefix = *action;
    } else {
      q.action = *action;
    }
  }
  if (auto limit = ex.query("limit")) {
    auto n = Number("limit", *limit, 1, kMaxLimit);
    if (!n) return n.error();
    q.limit = static_cast<int>(*n);
  }
  if (auto before = ex.query("before")) {
    auto n = Number("before", *before, 1, INT64_MAX);
    if (!n) return n.error();
    q.before_id = *n;
  }
  return q;
}

json EntryJson(const AuditEntry& e) {
  json details = json::parse(e.details, nullptr, false);
  if (!details.is_object()) details = json::object();
  json out = {{"id", e.id},           {"time", Rfc3339Utc(e.time_ms / 1000)},
              {"time_ms", e.time_ms}, {"actor", e.actor},
              {"source", e.source},   {"action", e.action},
              {"namespace", e.ns},    {"target", e.target},
              {"outcome", e.outcome}, {"details", std::move(details)}};
  if (e.count > 1) {
    out["count"] = e.count;
    out["last_time"] = Rfc3339Utc(e.last_ms / 1000);
  }
  return out;
}

}  // namespace

Awaitable<Result<Reply>> ListAudit(Exchange& ex) {
  const auto& svc = ex.services();
  auto q = ReadQuery(ex);
  if (!q) co_return q.error();
  // The whole log is an admin's; a namespace's part, its maintainers' too.
  if (q->ns) {
    KEEP_CO_TRY(Authorize(svc.metadata, ex.who, Access{Action::kMaintain, *q->ns}));
  } else if (!ex.who.admin) {
    co_return Fail(ErrorCode::kDenied,
                   "only an admin may read the whole audit log; a namespace's maintainers read "
                   "its events with ?namespace=<name>");
  }
  // What was audited before this request is in the answer.
  auto entries = co_await Offload(svc, [&] {
    svc.audit.Flush();
    return svc.metadata.QueryAudit(*q);
  });
  if (!entries) co_return entries.error();
  json list = json::array();
  for (const auto& e : *entries) list.push_back(EntryJson(e));
  json out = {{"events", std::move(list)}};
  if (static_cast<int>(entries->size()) == q->limit) out["next_before"] = entries->back().id;
  co_return JsonReply(http::status::ok, out);
}

}  // namespace keep::server::handlers
