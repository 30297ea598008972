// The admin API's accounts: whoami, users and robot accounts
// (docs/admin-api.md). Who may call each is declared in server/router.cc;
// robots are managed by the maintainers of every namespace they reach.
#include "server/handlers/admin_json.h"

#include "core/clock.h"

namespace keep::server::handlers {
namespace {

using namespace admin;

constexpr std::int64_t kDay = 24 * 3600;
constexpr std::int64_t kDefaultRobotLifetime = 90 * kDay;
constexpr std::int64_t kMaxRobotLifetime = 3650 * kDay;

Error NoUser(const std::string& name) {
  return Fail(ErrorCode::kNotFound, "no user named " + name);
}

// The user of that name (robots are not users here).
Result<UserRecord> FindUser(Metadata& md, const std::string& name) {
  auto u = md.GetUser(name);
  if (!u) return u.error();
  if (!*u || (*u)->robot) return NoUser(name);
  return **u;
}

// A password from the body, checked, or a generated one (returned in `generated`).
Result<std::string> ChoosePassword(const json& body, std::optional<std::string>& generated) {
  auto given = StringField(body, "password");
  if (!given) return given.error();
  if (*given) {
    KEEP_TRY(CheckPasswordRules(**given));
    return **given;
  }
  generated = GeneratePassword();
  return *generated;
}

std::string RobotName(const std::string& name) {
  return name.starts_with(kRobotPrefix) ? name : std::string(kRobotPrefix) + name;
}

// Robots are managed by admins and by maintainers of every namespace the
// robot is scoped to (a robot without scopes: admins only).
Result<void> MayManage(Metadata& md, const Identity& who, const std::vector<RobotScope>& scopes) {
  if (who.admin) return {};
  if (scopes.empty()) {
    return Fail(ErrorCode::kDenied, "only an admin may manage a robot without scopes");
  }
  for (const auto& s : scopes) KEEP_TRY(Authorize(md, who, Access{Action::kMaintain, s.ns}));
  return {};
}

Result<std::vector<RobotScope>> ReadScopes(Metadata& md, const json& body) {
  auto it = body.find("scopes");
  if (it == body.end() || !it->is_array() || it->empty()) {
    return Fail(ErrorCode::kInvalid,
                "field \"scopes\" must list at least one {\"namespace\", \"actions\"}");
  }
  std::vector<RobotScope> scopes;
  for (const auto& s : *it) {
    if (!s.is_object() || !s.contains("namespace") || !s["namespace"].is_string() ||
        !s.contains("actions") || !s["actions"].is_array() || s["actions"].empty() ||
        s.size() != 2) {
      return Fail(ErrorCode::kInvalid,
                  "each scope must be {\"namespace\": NAME, \"actions\": [\"pull\", ...]}");
    }
    RobotScope scope{s["namespace"].get<std::string>(), {}};
    KEEP_TRY(ValidateNamespaceName(scope.ns));
    for (const auto& a : s["actions"]) {
      if (!a.is_string() || (a != "pull" && a != "push" && a != "delete")) {
        return Fail(ErrorCode::kInvalid, "a robot's actions are \"pull\", \"push\" and \"delete\"");
      }
      if (std::find(scope.actions.begin(), scope.actions.end(), a) == scope.actions.end()) {
        scope.actions.push_back(a.get<std::string>());
      }
    }
    auto ns = md.GetNamespace(scope.ns);
    if (!ns) return ns.error();
    if (!*ns) {
      return Fail(ErrorCode::kNotFound, "no namespace named " + scope.ns +
                                            "; an admin creates it with keepctl namespace create");
    }
    for (const auto& seen : scopes) {
      if (seen.ns == scope.ns) {
        return Fail(ErrorCode::kInvalid, "namespace " + scope.ns + " is listed twice");
      }
    }
    scopes.push_back(std::move(scope));
  }
  return scopes;
}

// A robot's event names its namespace when it has one scope.
AuditEvent RobotEvent(const Exchange& ex, const char* action, const std::string& name,
                      const std::vector<RobotScope>& scopes) {
  AuditEvent event = AuditBy(ex, action, scopes.size() == 1 ? scopes[0].ns : "", name);
  json listed = json::array();
  for (const auto& s : scopes) listed.push_back({{"namespace", s.ns}, {"actions", s.actions}});
  event.details = {{"scopes", std::move(listed)}};
  return event;
}

// At least one admin must stay able to sign in.
Result<void> KeepAnAdmin(Metadata& md, const std::string& name, std::optional<bool> disabled,
                         std::optional<bool> admin) {
  bool removes = (disabled && *disabled) || (admin && !*admin);
  if (!removes) return {};
  auto users = md.ListUsers();
  if (!users) return users.error();
  for (const auto& u : *users) {
    if (u.name != name && u.admin && !u.disabled) return {};
  }
  return Fail(ErrorCode::kConflict,
              "user " + name + " is the last enabled admin; make another user admin first");
}

}  // namespace

Awaitable<Result<Reply>> Whoami(Exchange& ex) {
  auto& md = ex.services().metadata;
  const Identity& who = ex.who;
  json namespaces = json::array();
  if (who.robot) {
    auto robots = md.ListRobots();
    if (!robots) co_return robots.error();
    for (const auto& r : *robots) {
      if (r.account.id != who.id) continue;
      for (const auto& s : r.scopes) {
        namespaces.push_back({{"name", s.ns}, {"actions", s.actions}});
      }
    }
  } else if (!who.anonymous()) {
    auto mine = md.MembershipsOf(who.id);
    if (!mine) co_return mine.error();
    for (const auto& m : *mine) namespaces.push_back({{"name", m.ns}, {"role", m.role}});
  }
  co_return JsonReply(http::status::ok, {{"name", who.user},
                                         {"admin", who.admin},
                                         {"robot", who.robot},
                                         {"namespaces", std::move(namespaces)}});
}

Awaitable<Result<Reply>> ListUsers(Exchange& ex) {
  auto users = ex.services().metadata.ListUsers();
  if (!users) co_return users.error();
  json list = json::array();
  for (const auto& u : *users) list.push_back(UserJson(u));
  co_return JsonReply(http::status::ok, {{"users", std::move(list)}});
}

Awaitable<Result<Reply>> CreateUser(Exchange& ex) {
  const auto& svc = ex.services();
  static constexpr std::string_view kFields[] = {"name", "password", "admin"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto name = StringField(*body, "name");
  if (!name) co_return name.error();
  if (!*name) co_return Fail(ErrorCode::kInvalid, "field \"name\" is required");
  KEEP_CO_TRY(ValidateAccountName(**name));
  // The audit log's names for keepd itself and for callers without
  // credentials: a user so named would pass for them.
  if (**name == kAuditActorKeepd || **name == kAuditActorAnonymous) {
    co_return Fail(
        ErrorCode::kInvalid,
        "the user name \"" + **name + "\" is reserved: the audit log names " +
            (**name == kAuditActorKeepd ? "keepd's own actions" : "callers without credentials") +
            " so");
  }
  auto admin = BoolField(*body, "admin");
  if (!admin) co_return admin.error();
  std::optional<std::string> generated;
  auto password = ChoosePassword(*body, generated);
  if (!password) co_return password.error();
  auto hash = co_await Offload(svc, [&] { return HashPassword(*password); });
  if (!hash) co_return hash.error();
  UserRecord u;
  u.name = **name;
  u.password_hash = std::move(*hash);
  u.admin = admin->value_or(false);
  u.created_by = ex.who.user;
  auto id = svc.metadata.CreateUser(u);
  if (!id) co_return id.error();
  AuditEvent event = AuditBy(ex, "user.create", "", u.name);
  event.details = {{"event", "user created"}, {"admin", u.admin}};
  Audit(std::move(event));
  auto created = FindUser(svc.metadata, u.name);
  if (!created) co_return created.error();
  json out = UserJson(*created);
  if (generated) out["password"] = *generated;
  co_return JsonReply(http::status::created, out);
}

Awaitable<Result<Reply>> ShowUser(Exchange& ex) {
  auto u = FindUser(ex.services().metadata, ex.params.name);
  if (!u) co_return u.error();
  co_return JsonReply(http::status::ok, UserJson(*u));
}

Awaitable<Result<Reply>> UpdateUser(Exchange& ex) {
  auto& md = ex.services().metadata;
  static constexpr std::string_view kFields[] = {"disabled", "admin"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto disabled = BoolField(*body, "disabled");
  if (!disabled) co_return disabled.error();
  auto admin = BoolField(*body, "admin");
  if (!admin) co_return admin.error();
  KEEP_CO_TRY(FindUser(md, ex.params.name));
  KEEP_CO_TRY(KeepAnAdmin(md, ex.params.name, *disabled, *admin));
  auto found = md.UpdateUser(ex.params.name, *disabled, *admin);
  if (!found) co_return found.error();
  if (!*found) co_return NoUser(ex.params.name);
  AuditEvent event = AuditBy(ex, "user.update", "", ex.params.name);
  event.details = {{"event", "user changed"}};
  if (*disabled) event.details["disabled"] = **disabled;
  if (*admin) event.details["admin"] = **admin;
  Audit(std::move(event));
  auto u = FindUser(md, ex.params.name);
  if (!u) co_return u.error();
  co_return JsonReply(http::status::ok, UserJson(*u));
}

Awaitable<Result<Reply>> SetPassword(Exchange& ex) {
  const auto& svc = ex.services();
  static constexpr std::string_view kFields[] = {"password"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  KEEP_CO_TRY(FindUser(svc.metadata, ex.params.name));
  std::optional<std::string> generated;
  auto password = ChoosePassword(*body, generated);
  if (!password) co_return password.error();
  auto hash = co_await Offload(svc, [&] { return HashPassword(*password); });
  if (!hash) co_return hash.error();
  auto changed = svc.metadata.SetPasswordHash(ex.params.name, *hash);
  if (!changed) co_return changed.error();
  if (!*changed) co_return NoUser(ex.params.name);
  AuditEvent event = AuditBy(ex, "user.password", "", ex.params.name);
  event.details = {{"event", "password changed"}, {"generated", generated.has_value()}};
  Audit(std::move(event));
  auto u = FindUser(svc.metadata, ex.params.name);
  if (!u) co_return u.error();
  json out = UserJson(*u);
  if (generated) out["password"] = *generated;
  co_return JsonReply(http::status::ok, out);
}

Awaitable<Result<Reply>> ListRobots(Exchange& ex) {
  auto& md = ex.services().metadata;
  auto robots = md.ListRobots();
  if (!robots) co_return robots.error();
  json list = json::array();
  for (const auto& r : *robots) {
    if (MayManage(md, ex.who, r.scopes)) list.push_back(RobotJson(r));
  }
  co_return JsonReply(http::status::ok, {{"robots", std::move(list)}});
}

Awaitable<Result<Reply>> CreateRobot(Exchange& ex) {
  const auto& svc = ex.services();
  static constexpr std::string_view kFields[] = {"name", "scopes", "expires_in"};
  auto body = co_await ReadObject(ex, kFields);
  if (!body) co_return body.error();
  auto name = StringField(*body, "name");
  if (!name) co_return name.error();
  if (!*name) co_return Fail(ErrorCode::kInvalid, "field \"name\" is required");
  KEEP_CO_TRY(ValidateRobotName(**name));
  auto scopes = ReadScopes(svc.metadata, *body);
  if (!scopes) co_return scopes.error();
  KEEP_CO_TRY(MayManage(svc.metadata, ex.who, *scopes));
  auto expires_in = IntField(*body, "expires_in");
  if (!expires_in) co_return expires_in.error();
  std::int64_t lifetime = expires_in->value_or(kDefaultRobotLifetime);
  if (lifetime <= 0 || lifetime > kMaxRobotLifetime) {
    co_return Fail(ErrorCode::kInvalid,
                   "field \"expires_in\" must be between 1 second and 10 years (in seconds)");
  }
  std::string secret = GeneratePassword(32);
  auto hash = co_await Offload(svc, [&] { return HashPassword(secret); });
  if (!hash) co_return hash.error();
  RobotRecord robot;
  robot.account.name = RobotName(**name);
  robot.account.password_hash = std::move(*hash);
  robot.account.robot = true;
  robot.account.expires_at = UnixNow() + lifetime;
  robot.account.created_by = ex.who.user;
  robot.scopes = std::move(*scopes);
  KEEP_CO_TRY(svc.metadata.CreateRobot(robot));
  Audit(RobotEvent(ex, "robot.create", robot.account.name, robot.scopes));
  auto stored = svc.metadata.GetUser(robot.account.name);
  if (!stored) co_return stored.error();
  if (*stored) robot.account = **stored;
  json out = RobotJson(robot);
  out["secret"] = secret;
  co_return JsonReply(http::status::created, out);
}

Awaitable<Result<Reply>> DeleteRobot(Exchange& ex) {
  auto& md = ex.services().metadata;
  std::string name = RobotName(ex.params.name);
  auto robots = md.ListRobots();
  if (!robots) co_return robots.error();
  auto it = std::find_if(robots->begin(), robots->end(),
                         [&](const RobotRecord& r) { return r.account.name == name; });
  if (it == robots->end()) co_return Fail(ErrorCode::kNotFound, "no robot named " + name);
  KEEP_CO_TRY(MayManage(md, ex.who, it->scopes));
  auto removed = md.DeleteRobot(name);
  if (!removed) co_return removed.error();
  if (!*removed) co_return Fail(ErrorCode::kNotFound, "no robot named " + name);
  Audit(RobotEvent(ex, "robot.delete", name, it->scopes));
  co_return Reply::Empty(http::status::no_content);
}

}  // namespace keep::server::handlers
