// auth/auth.h — who is calling, and may they do what they ask.
//
// Authenticator checks HTTP Basic credentials against the users table
// (Argon2id hashes, libsodium). Argon2id is slow on purpose, so verified
// credentials are remembered for a short time, keyed by a keyed hash of the
// header (the secret itself is never kept), and re-checked against the
// user's current password hash on every use: changing a password or
// disabling a user drops them at once.
//
// Authorize decides access from the identity and the access a route
// declares; handlers never decide who may do what.
//
// Thread-safe: Authenticator may be shared by all threads.
#pragma once

#include "auth/throttle.h"
#include "auth/token.h"
#include "core/error.h"
#include "storage/metadata.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep {

struct Identity {
  std::string user;  // empty: anonymous
  bool admin = false;
  // Set when the caller presented a bearer token: exactly what it grants.
  std::optional<std::vector<Grant>> grants;
  bool anonymous() const { return user.empty(); }
};

// kNone: open to anyone (health); kLogin: any signed-in identity (GET /v2/).
enum class Action { kNone, kLogin, kPull, kPush, kDelete, kCatalog };

struct Access {
  Action action = Action::kNone;
  std::string repo;  // empty for registry-wide access
};

// The grant an access needs ("repository:<repo>:pull", "registry:catalog:*"),
// or nullopt for kNone and kLogin.
std::optional<Grant> NeededGrant(const Access& access);
// The scope a client should ask the token service for, to make this access
// ("repository:<repo>:pull,push" for a push, as clients expect); empty for none.
std::string ChallengeScope(const Access& access);
// Of the actions `requested` names, those `who` may do. This is the one place
// that decides permissions; namespace roles will refine it.
std::vector<std::string> PermittedActions(const Identity& who, const Grant& requested);

// Argon2id (libsodium's encoded form, with its salt and parameters).
[[nodiscard]] Result<std::string> HashPassword(std::string_view password);
[[nodiscard]] bool VerifyPassword(const std::string& hash, std::string_view password);
// A random password of letters and digits, for generated credentials.
std::string GeneratePassword(std::size_t length = 24);

// Creates user "admin" with a generated password when the users table is
// empty; returns that password (to be shown once), or nullopt.
[[nodiscard]] Result<std::optional<std::string>> EnsureFirstAdmin(Metadata& metadata);

class Authenticator {
 public:
  // Bearer tokens are checked with `tokens` for audience `service`.
  Authenticator(Metadata& metadata, std::chrono::seconds cache_ttl, const TokenIssuer& tokens,
                std::string service);

  // `authorization` is the Authorization header's value (Basic or Bearer),
  // or empty; `remote` the client's address. kUnauthorized when missing or
  // wrong (the message never says which part of a password was wrong);
  // kTooManyRequests after repeated failures from that address or for that
  // user, without checking the password.
  [[nodiscard]] Result<Identity> Authenticate(std::string_view authorization,
                                              std::string_view remote);
  // The answer when it needs no password check (no or malformed credentials,
  // or a cache hit); nullopt when Authenticate must verify the secret.
  [[nodiscard]] std::optional<Result<Identity>> AuthenticateCached(std::string_view authorization);

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

  Metadata& metadata_;
  LoginThrottle throttle_;
  std::chrono::seconds ttl_;
  const TokenIssuer& tokens_;
  std::string service_;
  unsigned char key_[32];
  static constexpr std::size_t kStripes = 16;
  std::mutex stripes_[kStripes];  // serialise verification of one credential
  std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // GUARDED_BY(mu_)
};

// May `who` make this access? A token's grants must cover it; a Basic-auth
// caller is checked against PermittedActions. kUnauthorized asks the client
// to (re)authenticate; kDenied says the identity may not.
[[nodiscard]] Result<void> Authorize(const Identity& who, const Access& access);

}  // namespace keep
