#include "auth/token.h"

#include "core/base64.h"
#include "storage/secrets.h"

#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

namespace keep {
namespace {

using nlohmann::json;

constexpr std::int64_t kLeewaySeconds = 30;  // clock skew tolerated for nbf/iat

std::string Base64Url(std::string_view bin) {
  return EncodeBase64(bin, Base64Alphabet::kUrlNoPadding);
}

bool FromBase64Url(std::string_view in, std::string& out) {
  auto decoded = DecodeBase64(in, Base64Alphabet::kUrlNoPadding);
  if (!decoded) return false;
  out = std::move(*decoded);
  return true;
}

Error Invalid(std::string why) {
  return Fail(ErrorCode::kUnauthorized, "invalid token: " + why + "; log in again");
}

std::vector<std::string> SplitActions(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    std::string_view a = s.substr(start, comma == s.npos ? s.npos : comma - start);
    if (!a.empty()) out.emplace_back(a);
    if (comma == s.npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

bool Grant::Allows(std::string_view action) const {
  for (const auto& a : actions) {
    if (a == action || a == "*") return true;
  }
  return false;
}

Result<std::vector<Grant>> ParseScopes(std::string_view scope) {
  std::vector<Grant> out;
  std::size_t start = 0;
  while (start < scope.size()) {
    auto space = scope.find(' ', start);
    std::string_view one = scope.substr(start, space == scope.npos ? scope.npos : space - start);
    start = space == scope.npos ? scope.size() : space + 1;
    if (one.empty()) continue;
    auto first = one.find(':'), last = one.rfind(':');
    if (first == one.npos || first == last) {
      return Fail(ErrorCode::kDenied, "malformed scope \"" + std::string(one) +
                                          "\": expected type:name:actions");
    }
    Grant g{std::string(one.substr(0, first)), std::string(one.substr(first + 1, last - first - 1)),
            SplitActions(one.substr(last + 1))};
    out.push_back(std::move(g));
  }
  return out;
}

std::string ScopeString(const Grant& g) {
  std::string s = g.type + ":" + g.name + ":";
  for (std::size_t i = 0; i < g.actions.size(); ++i) {
    if (i) s += ',';
    s += g.actions[i];
  }
  return s;
}

Result<TokenIssuer> TokenIssuer::FromSecret(std::string_view secret, std::string issuer,
                                            const std::string& where) {
  TokenIssuer t;
  t.issuer_ = std::move(issuer);
  if (secret.size() != t.secret_.size()) {
    return OperatorFault(ErrorCode::kInternal,
                         "the token key " + where +
                             " is damaged; remove it to make a new one (tokens issued before "
                             "become invalid)");
  }
  std::memcpy(t.secret_.data(), secret.data(), secret.size());
  crypto_sign_ed25519_sk_to_pk(t.public_.data(), t.secret_.data());
  unsigned char kid[8];
  crypto_generichash(kid, sizeof kid, t.public_.data(), t.public_.size(), nullptr, 0);
  t.key_id_ = Base64Url(std::string_view(reinterpret_cast<const char*>(kid), sizeof kid));
  return t;
}

std::string TokenIssuer::NewSecret() {
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::string sk(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(pk.data(), reinterpret_cast<unsigned char*>(sk.data()));
  return sk;
}

Result<TokenIssuer> TokenIssuer::Open(const std::string& key_path, std::string issuer) {
  auto key = FileSecret(key_path, "the token key", NewSecret);
  if (!key) return key.error();
  return FromSecret(*key, std::move(issuer), key_path);
}

std::string TokenIssuer::Issue(const TokenClaims& c) const {
  json access = json::array();
  for (const auto& g : c.access) {
    access.push_back({{"type", g.type}, {"name", g.name}, {"actions", g.actions}});
  }
  unsigned char jti[16];
  randombytes_buf(jti, sizeof jti);
  json header = {{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", key_id_}};
  json payload = {{"iss", issuer_},
                  {"sub", c.subject},
                  {"aud", c.audience},
                  {"iat", c.issued_at},
                  {"nbf", c.issued_at},
                  {"exp", c.expires_at},
                  {"jti", Base64Url(std::string_view(reinterpret_cast<const char*>(jti), sizeof jti))},
                  {"access", std::move(access)}};
  std::string signing_input = Base64Url(header.dump()) + "." + Base64Url(payload.dump());
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(signing_input.data()),
                       signing_input.size(), secret_.data());
  return signing_input + "." +
         Base64Url(std::string_view(reinterpret_cast<const char*>(sig), sizeof sig));
}

Result<TokenClaims> TokenIssuer::Verify(std::string_view token, std::string_view audience,
                                        std::int64_t now) const {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == token.npos ? token.npos : token.find('.', dot1 + 1);
  if (dot2 == token.npos || token.find('.', dot2 + 1) != token.npos) return Invalid("malformed");
  std::string header_raw, payload_raw, sig;
  if (!FromBase64Url(token.substr(0, dot1), header_raw) ||
      !FromBase64Url(token.substr(dot1 + 1, dot2 - dot1 - 1), payload_raw) ||
      !FromBase64Url(token.substr(dot2 + 1), sig) || sig.size() != crypto_sign_BYTES) {
    return Invalid("malformed");
  }
  std::string_view signing_input = token.substr(0, dot2);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig.data()),
                                  reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size(), public_.data()) != 0) {
    return Invalid("bad signature");
  }
  json header = json::parse(header_raw, nullptr, false);
  json payload = json::parse(payload_raw, nullptr, false);
  if (!header.is_object() || !payload.is_object()) return Invalid("malformed");
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get_ref<const std::string&>() != "EdDSA") {
    return Invalid("unsupported algorithm");
  }
  // Times must be integers: converting a float or an out-of-range number is undefined.
  auto time_claim = [&](const char* key) -> std::optional<std::int64_t> {
    auto it = payload.find(key);
    if (it == payload.end() || !it->is_number_integer()) return std::nullopt;
    return it->get<std::int64_t>();
  };
  try {
    if (payload.at("iss").get<std::string>() != issuer_) return Invalid("wrong issuer");
    if (payload.at("aud").get<std::string>() != audience) return Invalid("issued for another service");
    auto iat = time_claim("iat"), exp = time_claim("exp"), nbf = time_claim("nbf");
    if (!iat || !exp || !nbf) return Invalid("malformed times");
    TokenClaims c;
    c.subject = payload.at("sub").get<std::string>();
    c.audience = std::string(audience);
    c.issued_at = *iat;
    c.expires_at = *exp;
    if (now >= c.expires_at) return Invalid("expired");
    if (*nbf > now + kLeewaySeconds) return Invalid("not valid yet");
    for (const auto& a : payload.at("access")) {
      c.access.push_back(Grant{a.at("type").get<std::string>(), a.at("name").get<std::string>(),
                               a.at("actions").get<std::vector<std::string>>()});
    }
    return c;
  } catch (const json::exception&) {
    return Invalid("malformed claims");
  }
}

}  // namespace keep
