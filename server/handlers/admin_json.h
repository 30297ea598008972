// server/handlers/admin_json.h — what the admin API handlers share: reading
// a JSON request body with its fields checked, and the JSON of each record
// (docs/admin-api.md).
#pragma once

#include "server/handlers/handlers.h"

#include <nlohmann/json.hpp>

#include <span>

namespace keep::server::handlers::admin {

using nlohmann::json;

// The request body as a JSON object whose keys are all in `allowed` (a
// static array: GCC 12 mishandles an initializer list in a coroutine)
// (kInvalid naming the first unknown key, or saying what is malformed).
Awaitable<Result<json>> ReadObject(Exchange& ex, std::span<const std::string_view> allowed);

// A field of the expected type, or nullopt when absent (kInvalid when it has
// another type).
Result<std::optional<std::string>> StringField(const json& body, const char* key);
Result<std::optional<bool>> BoolField(const json& body, const char* key);
Result<std::optional<std::int64_t>> IntField(const json& body, const char* key);

Reply JsonReply(http::status status, const json& body);

// The namespace of that name; kNotFound ("no namespace named ...") when none.
Result<NamespaceRecord> FindNamespace(Metadata& md, const std::string& name);

json UserJson(const UserRecord& u);
json RobotJson(const RobotRecord& r);
json NamespaceJson(const NamespaceRecord& ns);
json PolicyJson(const TrustPolicy& p);  // (admin_trust.cc)
// The manifests of the namespace that readers are not served, as
// GET /admin/v1/quarantine lists them (admin_trust.cc).
Result<json> QuarantineJson(Metadata& md, const NamespaceRecord& ns);

}  // namespace keep::server::handlers::admin
