// The curated mirror's admin API: /admin/v1/mirrors[/<rule>[/sync|/approve]]
// and /admin/v1/mirror-key (docs/admin-api.md). Rules are an admin's;
// approving a held change is for a maintainer of the rule's namespace.
#include "server/handlers/admin_json.h"

#include "mirror/service.h"

namespace keep::server::handlers {
namespace {

using admin::json;
using admin::JsonReply;

Awaitable<Result<json>> ReadJson(Exchange& ex) {
  auto body = co_await ex.ReadBody(ex.services().config.max_body_bytes);
  if (!body) co_return body.error();
  auto j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    co_return Fail(ErrorCode::kInvalid, "the body must be a JSON object");
  }
  co_return j;
}

Reply MirrorsAnswer(http::status status, const json& body) { return JsonReply(status, body); }

// A change to a rule: the rule's namespace is where it lands (`shown` is the
// rule as the mirror service shows it, without credentials).
AuditEvent MirrorEvent(const Exchange& ex, const char* action, const std::string& rule,
                       const json& shown) {
  std::string ns;
  if (shown.is_object() && shown.contains("target") && shown["target"].is_string()) {
    ns = std::string(NamespaceOf(shown["target"].get<std::string>()));
  }
  AuditEvent event = AuditBy(ex, action, ns, rule);
  event.details = {{"event", std::string(action)}, {"rule", rule}};
  return event;
}

}  // namespace

Awaitable<Result<Reply>> ListMirrors(Exchange& ex) {
  const auto& svc = ex.services();
  auto list = co_await Offload(svc, [&] { return svc.mirrors.List(); });
  if (!list) co_return list.error();
  co_return MirrorsAnswer(http::status::ok, *list);
}

Awaitable<Result<Reply>> CreateMirror(Exchange& ex) {
  const auto& svc = ex.services();
  auto body = co_await ReadJson(ex);
  if (!body) co_return body.error();
  auto made = co_await Offload(svc, [&] { return svc.mirrors.Create(*body, ex.who.user); });
  if (!made) co_return made.error();
  Audit(MirrorEvent(ex, "mirror.create", made->value("name", ""), *made));
  co_return MirrorsAnswer(http::status::created, *made);
}

Awaitable<Result<Reply>> ShowMirror(Exchange& ex) {
  const auto& svc = ex.services();
  auto shown = co_await Offload(svc, [&] { return svc.mirrors.Show(ex.params.name); });
  if (!shown) co_return shown.error();
  co_return MirrorsAnswer(http::status::ok, *shown);
}

Awaitable<Result<Reply>> UpdateMirror(Exchange& ex) {
  const auto& svc = ex.services();
  auto body = co_await ReadJson(ex);
  if (!body) co_return body.error();
  auto updated = co_await Offload(svc, [&] { return svc.mirrors.Update(ex.params.name, *body); });
  if (!updated) co_return updated.error();
  Audit(MirrorEvent(ex, "mirror.update", ex.params.name, *updated));
  co_return MirrorsAnswer(http::status::ok, *updated);
}

Awaitable<Result<Reply>> DeleteMirror(Exchange& ex) {
  const auto& svc = ex.services();
  auto removed = co_await Offload(svc, [&] { return svc.mirrors.Remove(ex.params.name); });
  if (!removed) co_return removed.error();
  Audit(MirrorEvent(ex, "mirror.delete", ex.params.name, json::object()));
  co_return Reply::Empty(http::status::no_content);
}

Awaitable<Result<Reply>> StartMirrorSync(Exchange& ex) {
  const auto& svc = ex.services();
  auto started = co_await Offload(svc, [&] { return svc.mirrors.StartSync(ex.params.name); });
  if (!started) co_return started.error();
  Audit(MirrorEvent(ex, "mirror.sync_start", ex.params.name, json::object()));
  co_return MirrorsAnswer(http::status::accepted, *started);
}

Awaitable<Result<Reply>> MirrorSyncStatus(Exchange& ex) {
  const auto& svc = ex.services();
  std::size_t after = 0;
  if (auto given = ex.query("after")) {
    if (given->empty() || given->size() > 12 ||
        given->find_first_not_of("0123456789") != std::string::npos) {
      co_return Fail(ErrorCode::kInvalid, "after must be a number of events");
    }
    after = std::stoull(*given);
  }
  auto status = svc.mirrors.SyncStatus(ex.params.name, after);  // memory only: no blocking
  if (!status) co_return status.error();
  co_return MirrorsAnswer(http::status::ok, *status);
}

Awaitable<Result<Reply>> ApproveMirrorChange(Exchange& ex) {
  const auto& svc = ex.services();
  auto body = co_await ReadJson(ex);
  if (!body) co_return body.error();
  auto repository = admin::StringField(*body, "repository");
  if (!repository) co_return repository.error();
  auto tag = admin::StringField(*body, "tag");
  if (!tag) co_return tag.error();
  if (!*repository || !*tag) co_return Fail(ErrorCode::kInvalid, "give repository and tag");
  KEEP_CO_TRY(ValidateRepoName(**repository));
  if (!IsValidTag(**tag)) co_return Fail(ErrorCode::kInvalid, "tag is not a valid tag");
  KEEP_CO_TRY(Authorize(svc.metadata, ex.who,
                        Access{Action::kMaintain, std::string(NamespaceOf(**repository))}));
  auto approved = co_await Offload(
      svc, [&] { return svc.mirrors.Approve(ex.params.name, **repository, **tag); });
  if (!approved) co_return approved.error();
  AuditEvent event = AuditBy(ex, "mirror.approve", std::string(NamespaceOf(**repository)),
                             **repository + ":" + **tag);
  event.details = {{"event", "mirror change approved"},
                   {"rule", ex.params.name},
                   {"digest", approved->value("approved", "")}};
  Audit(std::move(event));
  co_return MirrorsAnswer(http::status::ok, *approved);
}

Awaitable<Result<Reply>> MirrorKey(Exchange& ex) {
  const PublicKey& key = ex.services().mirrors.curator().public_key();
  co_return MirrorsAnswer(
      http::status::ok,
      {{"key_id", key.key_id()}, {"algorithm", key.algorithm()}, {"public_key", key.pem()}});
}

}  // namespace keep::server::handlers
