#include "server/handlers/admin_json.h"

namespace keep::server::handlers::admin {
namespace {

Error WrongType(const char* key, const char* type) {
  return Fail(ErrorCode::kInvalid, std::string("field \"") + key + "\" must be " + type);
}

}  // namespace

Awaitable<Result<json>> ReadObject(Exchange& ex, std::span<const std::string_view> allowed) {
  // limits.max_body_bytes, as for every body that is neither a blob nor a manifest.
  auto body = co_await ex.ReadBody(ex.services().config.max_body_bytes);
  if (!body) co_return body.error();
  json j = json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (body->empty()) j = json::object();
  if (!j.is_object()) {
    co_return Fail(ErrorCode::kInvalid, "the request body must be a JSON object");
  }
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      co_return Fail(ErrorCode::kInvalid, "unknown field \"" + key + "\"" +
                                              (list.empty() ? "; this call takes no fields"
                                                            : "; known fields: " + list));
    }
  }
  co_return j;
}

Result<std::optional<std::string>> StringField(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return WrongType(key, "a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<bool>> BoolField(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return WrongType(key, "true or false");
  return std::optional<bool>(it->get<bool>());
}

Result<std::optional<std::int64_t>> IntField(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<std::int64_t>();
  if (!it->is_number_integer()) return WrongType(key, "an integer");
  return std::optional<std::int64_t>(it->get<std::int64_t>());
}

Reply JsonReply(http::status status, const json& body) {
  Reply r = Reply::Json(status, body.dump());
  r.headers.set(http::field::cache_control, "no-store");
  return r;
}

Result<NamespaceRecord> FindNamespace(Metadata& md, const std::string& name) {
  auto ns = md.GetNamespace(name);
  if (!ns) return ns.error();
  if (!*ns) return Fail(ErrorCode::kNotFound, "no namespace named " + name);
  return **ns;
}

json UserJson(const UserRecord& u) {
  return {{"name", u.name},
          {"admin", u.admin},
          {"disabled", u.disabled},
          {"created_at", u.created_at}};
}

json RobotJson(const RobotRecord& r) {
  json scopes = json::array();
  for (const auto& s : r.scopes) scopes.push_back({{"namespace", s.ns}, {"actions", s.actions}});
  return {{"name", r.account.name},
          {"scopes", std::move(scopes)},
          {"expires_at", r.account.expires_at},
          {"created_by", r.account.created_by},
          {"created_at", r.account.created_at}};
}

json NamespaceJson(const NamespaceRecord& ns) {
  return {{"name", ns.name},
          {"anonymous_pull", ns.anonymous_pull},
          {"created_at", ns.created_at},
          {"created_by", ns.created_by},
          {"repositories", ns.repositories},
          {"policy", PolicyJson(ns.policy)},
          {"policy_since", ns.policy_since}};
}

}  // namespace keep::server::handlers::admin
