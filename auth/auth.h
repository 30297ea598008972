// auth/auth.h — who is calling, and may they do what they ask.
//
// Authenticator checks HTTP Basic credentials against the users table
// (Argon2id hashes, libsodium). Argon2id is slow on purpose, so verified
// credentials are remembered for a short time, keyed by a keyed hash of the
// header (the secret itself is never kept), and re-checked against the
// user's current password hash on every use: changing a password or
// disabling a user drops them at once.
//
// Wrong credentials are told apart from missing ones ("not accepted" versus
// "authentication required"), but never say whether the user exists; each
// refusal is reported to the server's log through a RefusedLoginLog.
//
// Authorize and PermittedActions decide access from the identity, its
// namespace roles and the access a route declares; handlers never decide who
// may do what.
//
// Thread-safe: Authenticator may be shared by all threads.
#pragma once

#include "auth/throttle.h"
#include "auth/token.h"
#include "core/error.h"
#include "storage/metadata.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep {

struct Identity {
  std::string user;  // empty: anonymous
  std::int64_t id = 0;  // the account's id; 0 for anonymous
  bool admin = false;
  bool robot = false;
  // Set when the caller presented a bearer token: exactly what it grants.
  std::optional<std::vector<Grant>> grants;
  // The caller's standing in the namespace of the request (its name, and
  // what was read), as AuthorizeRequest read it for this request: the
  // request's trust decisions use it rather than read it again.
  std::optional<std::pair<std::string, NamespaceAccess>> standing;
  bool anonymous() const { return user.empty(); }
  // The standing read for this request in namespace `ns`, or nullptr.
  const NamespaceAccess* StandingIn(std::string_view ns) const {
    return standing && standing->first == ns ? &standing->second : nullptr;
  }
};

// What a route needs. kNone: open to anyone (the token service); kLogin: any
// signed-in identity (GET /v2/); kPull/kPush/kDelete: that action on the
// repository; kCatalog: the catalog (filtered to what the caller may pull);
// kPerson: any signed-in user; kAdmin: the global admin role; kMaintain:
// maintainer of the namespace; kSelf: the user named, or an admin. The last
// four are for people only, never robot accounts.
enum class Action {
  kNone, kLogin, kPull, kPush, kDelete, kCatalog, kPerson, kAdmin, kMaintain, kSelf
};

struct Access {
  Action action = Action::kNone;
  // The repository (kPull, kPush, kDelete), namespace (kMaintain) or user
  // name (kSelf); empty otherwise.
  std::string target;
};

// Namespace roles, weakest first.
enum class Role { kNone, kReader, kPublisher, kMaintainer };
std::optional<Role> ParseRole(std::string_view name);  // "reader", "publisher", "maintainer"
std::string_view RoleName(Role role);

// The grant an access needs ("repository:<repo>:pull", "registry:catalog:*",
// "registry:admin:*"), or nullopt for kNone and kLogin.
std::optional<Grant> NeededGrant(const Access& access);
// The scope a client should ask the token service for, to make this access
// ("repository:<repo>:pull,push" for a push, as clients expect); empty for none.
std::string ChallengeScope(const Access& access);

// The access decisions, from what the database says about the caller in the
// namespace concerned (`standing`; for registry grants it is not used). These
// two functions are the one place that decides who may do what.
//
// Of the actions `requested` names, those `who` may do.
std::vector<std::string> PermittedActions(const Identity& who, const Grant& requested,
                                          const NamespaceAccess& standing);
// May `who` make this access? A token's grants must cover it and the
// caller's current roles must allow it (so a removed member's token stops
// working at once). kUnauthorized asks the client to (re)authenticate or to
// get a token with more scope; kDenied says the identity may not.
[[nodiscard]] Result<void> Authorize(const Identity& who, const Access& access,
                                     const NamespaceAccess& standing);

// The same, reading the caller's standing from the database.
[[nodiscard]] Result<std::vector<std::string>> PermittedActions(Metadata& metadata,
                                                                const Identity& who,
                                                                const Grant& requested);
[[nodiscard]] Result<void> Authorize(Metadata& metadata, const Identity& who,
                                     const Access& access);
// Authorize for the access a request's route declares: the standing read
// for it stays in who.standing for the rest of the request.
[[nodiscard]] Result<void> AuthorizeRequest(Metadata& metadata, Identity& who,
                                            const Access& access);
// The namespaces whose repositories `who` may pull (for the catalog), or
// nullopt for all of them (admins).
[[nodiscard]] Result<std::optional<std::vector<std::string>>> PullableNamespaces(
    Metadata& metadata, const Identity& who);

// Argon2id (libsodium's encoded form, with its salt and parameters).
[[nodiscard]] Result<std::string> HashPassword(std::string_view password);
[[nodiscard]] bool VerifyPassword(const std::string& hash, std::string_view password);
// A random password of letters and digits, for generated credentials.
std::string GeneratePassword(std::size_t length = 24);

// Checks a proposed password (length); kInvalid says what is wrong.
[[nodiscard]] Result<void> CheckPasswordRules(std::string_view password);

// Creates user "admin" with a generated password when the users table is
// empty; returns that password (to be shown once), or nullopt.
[[nodiscard]] Result<std::optional<std::string>> EnsureFirstAdmin(Metadata& metadata);

// A login refused once its user name and password were read, for the log.
// `user` is the name exactly as the client sent it: untrusted bytes, to be
// escaped (LogText) before they are printed.
struct RefusedLogin {
  std::string_view user;
  std::string_view remote;  // the client's address
  std::string_view reason;  // "unknown user", "wrong password", "account disabled", ...
};
using RefusedLoginLog = std::function<void(const RefusedLogin&)>;

// The message of a refused user name or password (kUnauthorized).
inline constexpr std::string_view kCredentialsRefused =
    "the user name or password was not accepted";

class Authenticator {
 public:
  // Bearer tokens are checked with `tokens` for audience `service`. Every
  // refused login is passed to `log`, when set (from any thread).
  Authenticator(Metadata& metadata, std::chrono::seconds cache_ttl, const TokenIssuer& tokens,
                std::string service, RefusedLoginLog log = {});

  // `authorization` is the Authorization header's value (Basic or Bearer),
  // or empty; `remote` the client's address. Empty: the anonymous identity.
  // kUnauthorized with "authentication required" when Basic credentials name
  // no user, with kCredentialsRefused when the name or password is wrong
  // (the same answer, after the same work, whether or not the user exists),
  // and saying so when the account is disabled or expired, only to a caller
  // who gave its right password; kTooManyRequests after repeated failures
  // from that address or for that user, without checking the password.
  [[nodiscard]] Result<Identity> Authenticate(std::string_view authorization,
                                              std::string_view remote);
  // The answer when it needs no password check (no or malformed credentials,
  // or a cache hit); nullopt when Authenticate must verify the secret.
  [[nodiscard]] std::optional<Result<Identity>> AuthenticateCached(std::string_view authorization);
  // The robot account a verified client certificate names (its full name,
  // "robot+..."). kUnauthorized, saying why, when no robot account has that
  // name (a person's account never signs in this way) or it is disabled or
  // expired.
  [[nodiscard]] Result<Identity> FromCertificate(const std::string& account);

 private:
  struct Entry {
    std::string user;
    std::string password_hash;  // the hash the secret verified against
    std::chrono::steady_clock::time_point expires;
  };
  std::string CacheKey(std::string_view authorization) const;
  std::optional<Result<Identity>> FromCache(const std::string& key,
                                            std::chrono::steady_clock::time_point now);

  Result<Identity> FromToken(std::string_view token);
  // The claims of a token whose signature verified before and which has
  // not expired: a client sends the same token with every request, and
  // its Ed25519 check cost more than the rest of a manifest GET.
  std::optional<TokenClaims> CachedClaims(const std::string& key, std::int64_t now);
  void RememberClaims(const std::string& key, const TokenClaims& claims);
  // A hash no password matches, verified against for unknown users so that
  // they take as long to refuse as known ones. Made on first use.
  const std::string& DecoyHash();

  Metadata& metadata_;
  LoginThrottle throttle_;
  std::chrono::seconds ttl_;
  const TokenIssuer& tokens_;
  std::string service_;
  RefusedLoginLog log_;
  std::once_flag decoy_once_;
  std::string decoy_hash_;
  unsigned char key_[32];
  static constexpr std::size_t kStripes = 16;
  std::mutex stripes_[kStripes];  // serialise verification of one credential
  std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // GUARDED_BY(mu_)
  // Verified tokens by their keyed hash; emptied when it reaches its bound.
  static constexpr std::size_t kMaxTokens = 10000;
  std::unordered_map<std::string, TokenClaims> token_claims_;  // GUARDED_BY(mu_)
};

}  // namespace keep
