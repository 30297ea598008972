// The admin API's namespaces and their members (docs/admin-api.md). Who may
// call each is declared in server/router.cc.
#include "server/handlers/admin_json.h"

namespace keep::server::handlers {
namespace {

using namespace admin;

Error NoNamespace(const std::string& name) {
  return Fail(ErrorCode::kNotFound, "no namespace named " + name);
}

Result<json> MembersJson(Metadata& md, const std::string& ns) {
  auto members = md.ListMembers(ns);
  if (!members) return members.error();
  json list = json::array();
  for (const auto& m : *members) list.push_back({{"user", m.user}, {"role", m.role}});
  return list;
}

}  // namespace

Awaitable<Result<Reply>> ListNamespaces(Exchange& ex) {
  auto& md = ex.services().metadata;
  std::optional<std::int64_t> member;
  if (!ex.who.admin) member = ex.who.id;
  auto all = md.ListNamespaces(member);
  if (!all) co_return all.error();
  json list = json::array();
  for (const auto& ns : *all) list.push_back(NamespaceJson(ns));
  co_return JsonReply(http::status::ok, {{"namespaces", std::move(list)}});
}

Awaitable<Result<Reply>> CreateNamespace(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"name", "anonymous_pull"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto name = StringField(*body, "name");
  if (!name) co_return name.error();
  if (!*name) co_return Fail(ErrorCode::kInvalid, "field \"name\" is required");
  KEEP_CO_TRY(ValidateNamespaceName(**name));
  auto anonymous = BoolField(*body, "anonymous_pull");
  if (!anonymous) co_return anonymous.error();
  NamespaceRecord ns;
  ns.name = **name;
  ns.anonymous_pull = anonymous->value_or(false);
  ns.created_by = ex.who.user;
  KEEP_CO_TRY(md.CreateNamespace(ns));
  AuditEvent event = AuditBy(ex, "namespace.create", ns.name, ns.name);
  event.details = {{"event", "namespace created"}, {"anonymous_pull", ns.anonymous_pull}};
  Audit(std::move(event));
  auto created = FindNamespace(md, ns.name);
  if (!created) co_return created.error();
  // Images pushed before the namespace existed are withheld from readers
  // from now on, until signed; say how many, and when GC would remove them.
  auto withheld = QuarantineJson(md, *created);
  if (!withheld) co_return withheld.error();
  json out = NamespaceJson(*created);
  out["quarantined"] = std::move(*withheld);
  co_return JsonReply(http::status::created, out);
}

Awaitable<Result<Reply>> ShowNamespace(Exchange& ex) {
  auto& md = ex.services().metadata;
  auto ns = FindNamespace(md, ex.params.name);
  if (!ns) co_return ns.error();
  auto members = MembersJson(md, ns->name);
  if (!members) co_return members.error();
  json out = NamespaceJson(*ns);
  out["members"] = std::move(*members);
  co_return JsonReply(http::status::ok, out);
}

Awaitable<Result<Reply>> UpdateNamespace(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"anonymous_pull"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto anonymous = BoolField(*body, "anonymous_pull");
  if (!anonymous) co_return anonymous.error();
  if (*anonymous) {
    auto found = md.SetAnonymousPull(ex.params.name, **anonymous);
    if (!found) co_return found.error();
    if (!*found) co_return NoNamespace(ex.params.name);
    AuditEvent event = AuditBy(ex, "namespace.update", ex.params.name, ex.params.name);
    event.details = {{"event", "namespace changed"}, {"anonymous_pull", **anonymous}};
    Audit(std::move(event));
  }
  auto ns = FindNamespace(md, ex.params.name);
  if (!ns) co_return ns.error();
  co_return JsonReply(http::status::ok, NamespaceJson(*ns));
}

Awaitable<Result<Reply>> DeleteNamespace(Exchange& ex) {
  auto removed = ex.services().metadata.DeleteNamespace(ex.params.name);
  if (!removed) co_return removed.error();
  if (!*removed) co_return NoNamespace(ex.params.name);
  AuditEvent event = AuditBy(ex, "namespace.delete", ex.params.name, ex.params.name);
  event.details = {{"event", "namespace deleted"}};
  Audit(std::move(event));
  co_return Reply::Empty(http::status::no_content);
}

Awaitable<Result<Reply>> ListMembers(Exchange& ex) {
  auto& md = ex.services().metadata;
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  auto members = MembersJson(md, ex.params.name);
  if (!members) co_return members.error();
  co_return JsonReply(http::status::ok, {{"members", std::move(*members)}});
}

Awaitable<Result<Reply>> SetMember(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"role"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto role_name = StringField(*body, "role");
  if (!role_name) co_return role_name.error();
  auto role = ParseRole(role_name->value_or(""));
  if (!role) {
    co_return Fail(ErrorCode::kInvalid,
                   "field \"role\" must be \"reader\", \"publisher\" or \"maintainer\"");
  }
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  const std::string& name = ex.params.reference;
  auto user = md.GetUser(name);
  if (!user) co_return user.error();
  if (!*user || (*user)->robot) {
    co_return Fail(ErrorCode::kNotFound,
                   "no user named " + name + " (robots get scopes, not memberships)");
  }
  KEEP_CO_TRY(md.SetMember(ex.params.name, (*user)->id, std::string(RoleName(*role))));
  AuditEvent event = AuditBy(ex, "member.add", ex.params.name, name);
  event.details = {{"event", "member set"}, {"role", RoleName(*role)}};
  Audit(std::move(event));
  co_return JsonReply(http::status::ok, {{"user", name}, {"role", RoleName(*role)}});
}

Awaitable<Result<Reply>> RemoveMember(Exchange& ex) {
  auto& md = ex.services().metadata;
  KEEP_CO_TRY(FindNamespace(md, ex.params.name));
  const std::string& name = ex.params.reference;
  auto user = md.GetUser(name);
  if (!user) co_return user.error();
  bool removed = false;
  if (*user) {
    auto r = md.RemoveMember(ex.params.name, (*user)->id);
    if (!r) co_return r.error();
    removed = *r;
  }
  if (!removed) {
    co_return Fail(ErrorCode::kNotFound, name + " is not a member of namespace " + ex.params.name);
  }
  AuditEvent event = AuditBy(ex, "member.remove", ex.params.name, name);
  event.details = {{"event", "member removed"}};
  Audit(std::move(event));
  co_return Reply::Empty(http::status::no_content);
}

}  // namespace keep::server::handlers
