// auth/token.h — the Docker token-auth flow's tokens.
//
// A token is a JWT signed by keepd with Ed25519 (alg "EdDSA"), carrying the
// grants the token service decided: {type, name, actions} as in the Docker
// token spec ("repository:acme/app:pull,push", "registry:catalog:*"). The
// signing key lives in the data directory (0600), or in the database that
// replicas share (storage/secrets.h), so tokens outlive a restart.
// Verification checks the signature, the algorithm, the issuer, the
// audience (the service name), expiry and not-before.
//
// Thread-safe: a TokenIssuer is immutable after Open().
#pragma once

#include "core/error.h"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keep {

struct Grant {
  std::string type;  // "repository" or "registry"
  std::string name;  // a repository name, or "catalog"
  std::vector<std::string> actions;

  bool Allows(std::string_view action) const;
  friend bool operator==(const Grant&, const Grant&) = default;
};

// Parses one scope parameter ("repository:acme/app:pull,push"); several
// space-separated scopes are accepted in one string, as OAuth2 sends them.
[[nodiscard]] Result<std::vector<Grant>> ParseScopes(std::string_view scope);
// The scope string of a grant, for challenges and token responses.
std::string ScopeString(const Grant& g);

struct TokenClaims {
  std::string subject;  // user name; empty for anonymous
  std::string audience; // the service
  std::int64_t issued_at = 0;
  std::int64_t expires_at = 0;
  std::vector<Grant> access;
};

class TokenIssuer {
 public:
  // The issuer signing with `secret`, an Ed25519 secret key (libsodium's
  // 64 bytes); `where` names where it was kept, for the error when it is not one.
  [[nodiscard]] static Result<TokenIssuer> FromSecret(std::string_view secret, std::string issuer,
                                                      const std::string& where);
  // A new secret key for FromSecret.
  static std::string NewSecret();
  // Reads the key at key_path, creating it (0600) when absent.
  [[nodiscard]] static Result<TokenIssuer> Open(const std::string& key_path, std::string issuer);

  std::string Issue(const TokenClaims& claims) const;
  // kUnauthorized with a message saying what is wrong (expired, bad
  // signature, wrong audience, malformed).
  [[nodiscard]] Result<TokenClaims> Verify(std::string_view token, std::string_view audience,
                                           std::int64_t now) const;
  const std::string& issuer() const { return issuer_; }

 private:
  TokenIssuer() = default;
  std::string issuer_;
  std::string key_id_;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret_{};
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_{};
};

}  // namespace keep
