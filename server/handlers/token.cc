// The token service of the Docker token-auth flow: GET /token (Basic
// credentials, `scope` parameters) and POST /token (the OAuth2 password
// grant containerd tries first). A request for more than the caller may do
// is answered with less, never refused.
#include "server/handlers/handlers.h"

#include "core/clock.h"
#include "mirror/service.h"

#include "core/base64.h"

#include <sodium.h>

#include <chrono>
#include <ctime>

#include <map>
#include <nlohmann/json.hpp>

namespace keep::server::handlers {
namespace {

using nlohmann::json;

std::string Rfc3339(std::int64_t t) { return Rfc3339Utc(t); }

Result<void> CheckService(const Services& svc, const std::optional<std::string>& service) {
  if (service && !service->empty() && *service != svc.config.service) {
    return Fail(ErrorCode::kDenied, "this token service issues tokens for service \"" +
                                        svc.config.service + "\", not \"" + *service + "\"");
  }
  return {};
}

// The grants of a new token: each requested scope narrowed to what `who` may do.
Result<TokenClaims> Claims(const Services& svc, const Identity& who,
                           const std::vector<Grant>& requested) {
  TokenClaims c;
  c.subject = who.user;
  c.audience = svc.config.service;
  c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  c.expires_at = c.issued_at + svc.config.token_seconds;
  for (const Grant& g : requested) {
    auto permitted = PermittedActions(svc.metadata, who, g);
    if (!permitted) return permitted.error();
    c.access.push_back(Grant{g.type, g.name, std::move(*permitted)});
    // A read of a name a mirror rule serves is mapped to the rule's local
    // repository before it is authorised: that repository is granted too,
    // for what the caller may do there.
    if (g.type != "repository") continue;
    auto mapped = svc.mirrors.Resolve(g.name, std::nullopt);
    if (!mapped || mapped->local_repo == g.name) continue;
    Grant local{g.type, mapped->local_repo, g.actions};
    auto local_permitted = PermittedActions(svc.metadata, who, local);
    if (!local_permitted) return local_permitted.error();
    c.access.push_back(Grant{g.type, mapped->local_repo, std::move(*local_permitted)});
  }
  return c;
}

Reply Unauthorized(const Services& svc, const Error& e) {
  return ErrorReply(e, "Basic realm=\"" + svc.config.realm + "\", charset=\"UTF-8\"");
}

std::string BasicHeader(std::string_view user, std::string_view password) {
  std::string raw = std::string(user) + ":" + std::string(password);
  std::string b64 = EncodeBase64(raw);
  sodium_memzero(raw.data(), raw.size());
  return "Basic " + b64;
}

}  // namespace

Awaitable<Result<Reply>> GetToken(Exchange& ex) {
  const auto& svc = ex.services();
  KEEP_CO_TRY(CheckService(svc, ex.query("service")));
  auto authorization = ex.header(http::field::authorization);
  if (!authorization.empty() && !beast::iequals(authorization.substr(0, 6), "basic ")) {
    co_return Unauthorized(svc, Fail(ErrorCode::kUnauthorized,
                                     "the token service takes a user name and password"));
  }
  auto who = co_await Authenticate(ex, authorization);
  if (!who && who.error().code == ErrorCode::kTooManyRequests) co_return who.error();
  if (!who) co_return Unauthorized(svc, who.error());
  ex.who = *who;  // for the request log
  std::vector<Grant> requested;
  for (const auto& scope : ex.query_all("scope")) {
    auto g = ParseScopes(scope);
    if (!g) co_return g.error();
    requested.insert(requested.end(), g->begin(), g->end());
  }
  auto claims = Claims(svc, *who, requested);
  if (!claims) co_return claims.error();
  std::string token = svc.tokens.Issue(*claims);
  json body = {{"token", token},
               {"access_token", token},
               {"expires_in", svc.config.token_seconds},
               {"issued_at", Rfc3339(claims->issued_at)}};
  Reply r = Reply::Json(http::status::ok, body.dump());
  r.headers.set(http::field::cache_control, "no-store");
  co_return r;
}

Awaitable<Result<Reply>> PostToken(Exchange& ex) {
  const auto& svc = ex.services();
  auto body = co_await ex.ReadBody(svc.config.max_body_bytes);
  if (!body) co_return body.error();
  std::map<std::string, std::string> f;
  for (auto& [k, v] : ParseForm(*body, /*plus_is_space=*/true)) {
    if (k == "scope" && f.count(k)) {
      f[k] += " " + v;  // repeated scope fields add up, like space-separated ones
    } else {
      f[k] = std::move(v);
    }
  }
  KEEP_CO_TRY(CheckService(svc, f.count("service") ? std::optional(f["service"]) : std::nullopt));
  if (f["grant_type"] != "password") {
    Reply r = Reply::Json(http::status::bad_request,
                          json{{"error", "unsupported_grant_type"},
                               {"error_description", "only the password grant is supported"}}
                              .dump());
    co_return r;
  }
  if (f["username"].empty()) {
    co_return Unauthorized(svc, Fail(ErrorCode::kUnauthorized,
                                     "authentication required: the password grant needs a "
                                     "username and a password"));
  }
  std::string header = BasicHeader(f["username"], f["password"]);
  auto who = co_await Authenticate(ex, header);
  sodium_memzero(header.data(), header.size());
  if (!who && who.error().code == ErrorCode::kTooManyRequests) co_return who.error();
  if (!who) co_return Unauthorized(svc, who.error());
  ex.who = *who;
  auto requested = ParseScopes(f["scope"]);
  if (!requested) co_return requested.error();
  auto claims = Claims(svc, *who, *requested);
  if (!claims) co_return claims.error();
  std::string scope;
  for (const auto& g : claims->access) scope += (scope.empty() ? "" : " ") + ScopeString(g);
  json out = {{"access_token", svc.tokens.Issue(*claims)},
              {"token_type", "Bearer"},
              {"expires_in", svc.config.token_seconds},
              {"issued_at", Rfc3339(claims->issued_at)},
              {"scope", scope}};
  Reply r = Reply::Json(http::status::ok, out.dump());
  r.headers.set(http::field::cache_control, "no-store");
  co_return r;
}

}  // namespace keep::server::handlers
