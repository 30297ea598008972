#include "auth/auth.h"

#include "core/base64.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/names.h"

#include <sodium.h>

#include <mutex>

namespace keep {
namespace {

constexpr std::size_t kMaxCacheEntries = 10000;
// Argon2id with 19 MiB and 2 passes (the OWASP baseline): slow enough to
// frustrate guessing, small enough that concurrent logins don't balloon RSS.
constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19 * 1024 * 1024;

// No user name to check: as if no credentials came.
Error Required() {
  return Fail(ErrorCode::kUnauthorized,
              "authentication required: log in with a Keep user name and password");
}

Error Refused() { return Fail(ErrorCode::kUnauthorized, std::string(kCredentialsRefused)); }

Error UnknownScheme() {
  return Fail(ErrorCode::kUnauthorized,
              "the Authorization header holds neither Basic credentials nor a Bearer token");
}

Error MalformedBasic() {
  return Fail(ErrorCode::kUnauthorized,
              "the Basic credentials are not the base64 of \"user name:password\"");
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// May this account sign in now? Disabled users and expired robots may not.
bool Usable(const UserRecord& u) {
  return !u.disabled && !(u.robot && u.expires_at != 0 && u.expires_at <= UnixNow());
}

Identity IdentityOf(const UserRecord& u) {
  Identity who;
  who.user = u.name;
  who.id = u.id;
  who.admin = u.admin && !u.robot;
  who.robot = u.robot;
  return who;
}

}  // namespace

Result<void> CheckPasswordRules(std::string_view password) {
  if (password.size() < 12) {
    return Fail(ErrorCode::kInvalid, "a password needs at least 12 characters");
  }
  if (password.size() > 1024) {
    return Fail(ErrorCode::kInvalid, "a password may have at most 1024 characters");
  }
  return {};
}

Result<std::string> HashPassword(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            kOpsLimit, kMemLimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kInternal, "password hashing ran out of memory");
  }
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string GeneratePassword(std::size_t length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    out += kAlphabet[randombytes_uniform(sizeof(kAlphabet) - 1)];
  }
  return out;
}

Result<std::optional<std::string>> EnsureFirstAdmin(Metadata& metadata) {
  auto n = metadata.CountUsers();
  if (!n) return n.error();
  if (*n > 0) return std::optional<std::string>();
  std::string password = GeneratePassword();
  auto hash = HashPassword(password);
  if (!hash) return hash.error();
  UserRecord admin;
  admin.name = "admin";
  admin.password_hash = std::move(*hash);
  admin.admin = true;
  admin.created_by = "keepd";
  auto id = metadata.CreateUser(admin);
  if (!id) return id.error();
  return std::optional<std::string>(password);
}

Authenticator::Authenticator(Metadata& metadata, std::chrono::seconds cache_ttl,
                             const TokenIssuer& tokens, std::string service, RefusedLoginLog log)
    : metadata_(metadata), ttl_(cache_ttl), tokens_(tokens), service_(std::move(service)),
      log_(std::move(log)) {
  randombytes_buf(key_, sizeof key_);
}

const std::string& Authenticator::DecoyHash() {
  std::call_once(decoy_once_, [this] {
    auto hash = HashPassword(GeneratePassword(32));
    if (hash) decoy_hash_ = std::move(*hash);
  });
  return decoy_hash_;
}

std::string Authenticator::CacheKey(std::string_view authorization) const {
  unsigned char out[32];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(authorization.data()),
                     authorization.size(), key_, sizeof key_);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

// The identity for a cached, still-valid verification of these credentials:
// the user's password hash must be the one the secret was verified against.
std::optional<Result<Identity>> Authenticator::FromCache(const std::string& key,
                                                         std::chrono::steady_clock::time_point now) {
  std::optional<Entry> cached;
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > now) cached = it->second;
  }
  if (!cached) return std::nullopt;
  auto user = metadata_.GetUser(cached->user);
  if (!user) return Result<Identity>(user.error());
  if (*user && Usable(**user) && (*user)->password_hash == cached->password_hash) {
    return Result<Identity>(IdentityOf(**user));
  }
  return std::nullopt;
}

std::optional<TokenClaims> Authenticator::CachedClaims(const std::string& key, std::int64_t now) {
  std::shared_lock lock(mu_);
  auto it = token_claims_.find(key);
  // An expired token is verified again, and refused as such.
  if (it == token_claims_.end() || now >= it->second.expires_at) return std::nullopt;
  return it->second;
}

void Authenticator::RememberClaims(const std::string& key, const TokenClaims& claims) {
  std::unique_lock lock(mu_);
  if (token_claims_.size() >= kMaxTokens) token_claims_.clear();
  token_claims_.emplace(key, claims);
}

Result<Identity> Authenticator::FromToken(std::string_view token) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string key = CacheKey(token);
  auto claims = CachedClaims(key, now);
  if (!claims) {
    auto verified = tokens_.Verify(token, service_, now);
    if (!verified) return verified.error();
    RememberClaims(key, *verified);
    claims = std::move(*verified);
  }
  Identity who;
  who.grants = std::move(claims->access);
  if (!claims->subject.empty()) {
    // A disabled or deleted user's tokens stop working at once.
    auto user = metadata_.GetUser(claims->subject);
    if (!user) return user.error();
    if (!*user || !Usable(**user)) {
      return Fail(ErrorCode::kUnauthorized,
                  "invalid token: the account it was issued to is disabled, expired or deleted; "
                  "log in again");
    }
    auto grants = std::move(who.grants);
    who = IdentityOf(**user);
    who.grants = std::move(grants);
  }
  return who;
}

Result<Identity> Authenticator::FromCertificate(const std::string& account) {
  auto user = metadata_.GetUser(account);
  if (!user) return user.error();
  if (!*user || !(*user)->robot) {
    return Fail(ErrorCode::kUnauthorized,
                "the client certificate names \"" + account +
                    "\", which is no robot account here; only robot accounts sign in with "
                    "client certificates");
  }
  if (!Usable(**user)) {
    return Fail(ErrorCode::kUnauthorized, "the robot account \"" + account +
                                              "\" that the client certificate names is " +
                                              ((*user)->disabled ? "disabled" : "expired"));
  }
  return IdentityOf(**user);
}

std::optional<Result<Identity>> Authenticator::AuthenticateCached(std::string_view authorization) {
  if (authorization.empty()) return Result<Identity>(Identity{});
  if (StartsWithNoCase(authorization, "bearer ")) return FromToken(authorization.substr(7));
  if (!StartsWithNoCase(authorization, "basic ")) return Result<Identity>(UnknownScheme());
  return FromCache(CacheKey(authorization), std::chrono::steady_clock::now());
}

Result<Identity> Authenticator::Authenticate(std::string_view authorization,
                                             std::string_view remote) {
  if (authorization.empty()) return Identity{};
  if (!StartsWithNoCase(authorization, "basic ")) return UnknownScheme();
  std::string key = CacheKey(authorization);
  auto now = std::chrono::steady_clock::now();
  if (auto hit = FromCache(key, now)) return *hit;

  // One verification per credential at a time: a burst of connections with
  // the same credentials pays Argon2id once, the others find it cached.
  std::lock_guard stripe(stripes_[static_cast<unsigned char>(key[0]) % kStripes]);
  if (auto hit = FromCache(key, now)) return *hit;

  auto decoded = DecodeBase64(authorization.substr(6));
  if (!decoded) return MalformedBasic();
  auto colon = decoded->find(':');
  if (colon == std::string::npos) {
    sodium_memzero(decoded->data(), decoded->size());
    return MalformedBasic();
  }
  std::string name = decoded->substr(0, colon);
  std::string_view password = std::string_view(*decoded).substr(colon + 1);
  if (name.empty()) {
    sodium_memzero(decoded->data(), decoded->size());
    return Required();
  }
  // A guessed name may be kilobytes long: the throttle keeps a long one by
  // its digest, so that a campaign of long names holds memory in proportion
  // to the number of names, not their length.
  const std::string address_key = "address:" + AddressKey(remote),
                    user_key = "user:" + (name.size() <= 64 ? name : Sha256Of(name).hex());
  KEEP_TRY(throttle_.Check(address_key, now));
  KEEP_TRY(throttle_.Check(user_key, now));
  auto user = metadata_.GetUser(name);
  if (!user) return user.error();
  // What a refusal tells the caller: an unknown user and a wrong password get
  // the one answer, kCredentialsRefused, after the same Argon2id work (a
  // decoy hash stands in for a missing user), so neither the message nor its
  // timing says whether the user exists. That the account is disabled, or a
  // robot's has expired, is said only to a caller who gave its right
  // password: it learns why it cannot sign in, and a guesser learns nothing
  // it would not from any other wrong password.
  bool password_ok = VerifyPassword(*user ? (*user)->password_hash : DecoyHash(), password);
  sodium_memzero(decoded->data(), decoded->size());
  if (!*user || !password_ok || !Usable(**user)) {
    throttle_.Failure(address_key, now);
    throttle_.Failure(user_key, now);
    std::string_view reason = !*user              ? "unknown user"
                              : !password_ok      ? "wrong password"
                              : (*user)->disabled ? "account disabled"
                                                  : "robot account expired";
    if (log_) log_(RefusedLogin{name, remote, reason});
    if (!*user || !password_ok) return Refused();
    if ((*user)->disabled) {
      return Fail(ErrorCode::kUnauthorized,
                  "the account \"" + (*user)->name + "\" is disabled; an admin can enable it");
    }
    return Fail(ErrorCode::kUnauthorized, "the robot account \"" + (*user)->name +
                                              "\" has expired; a maintainer of its "
                                              "namespace can make a new one");
  }
  throttle_.Success(address_key);
  throttle_.Success(user_key);

  if (ttl_.count() > 0) {
    std::unique_lock lock(mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.insert_or_assign(key, Entry{(*user)->name, (*user)->password_hash, now + ttl_});
  }
  return IdentityOf(**user);
}

}  // namespace keep
