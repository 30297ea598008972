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
  bool anonymous() const { return user.empty(); }
};

// kNone: open to anyone (health); kLogin: any signed-in identity (GET /v2/).
enum class Action { kNone, kLogin, kPull, kPush, kDelete, kCatalog };

struct Access {
  Action action = Action::kNone;
  std::string repo;  // empty for registry-wide access
};

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
  Authenticator(Metadata& metadata, std::chrono::seconds cache_ttl);

  // `authorization` is the Authorization header's value, or empty.
  // kUnauthorized when missing or wrong (the message never says which part).
  [[nodiscard]] Result<Identity> Authenticate(std::string_view authorization);
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

  Metadata& metadata_;
  std::chrono::seconds ttl_;
  unsigned char key_[32];
  static constexpr std::size_t kStripes = 16;
  std::mutex stripes_[kStripes];  // serialise verification of one credential
  std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> cache_;  // GUARDED_BY(mu_)
};

// Everything an authenticated identity may do before namespace roles exist:
// any signed-in user may pull and push; anonymous callers may do nothing.
[[nodiscard]] Result<void> Authorize(const Identity& who, const Access& access);

}  // namespace keep
