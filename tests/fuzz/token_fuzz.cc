// Fuzzes the token service's parsers (auth/token.h): ParseScopes, which
// reads the scope parameters of GET/POST /token, and TokenIssuer::Verify,
// which reads Bearer tokens.
//
// Input: the whole input is a scope string; it is also used as a token's
// claims: "<header JSON>\n<payload JSON>" (no newline: a standard header and
// the input as payload), base64url-encoded and signed with the issuer's key,
// so that Verify's claim parsing is reached (a random token stops at the
// signature check; the auth target covers that).
//
// Invariants: every parsed grant prints (ScopeString) to a scope that parses
// back to it, and all of them joined by spaces to the same list; refusals
// are kDenied; PermittedActions grants a subset of what was asked, for any
// standing in a namespace; anonymous callers get at most pull, and only where
// anonymous pull is on. Verify accepts only unexpired tokens for its own
// audience, refuses with kUnauthorized, and lets no exception escape.
#include "auth/auth.h"
#include "auth/token.h"
#include "core/base64.h"
#include "fuzz_check.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

namespace {

using namespace keep;

constexpr std::int64_t kNow = 1800000000;
unsigned char g_sk[crypto_sign_SECRETKEYBYTES];
std::unique_ptr<TokenIssuer> g_tokens;
std::filesystem::path g_dir;

std::string Base64Url(std::string_view bin) {
  return EncodeBase64(bin, Base64Alphabet::kUrlNoPadding);
}

std::string Sign(std::string_view header, std::string_view payload) {
  std::string input = Base64Url(header) + "." + Base64Url(payload);
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size(), g_sk);
  return input + "." + Base64Url(std::string_view(reinterpret_cast<const char*>(sig), sizeof sig));
}

void CheckScopes(std::string_view in) {
  auto scopes = ParseScopes(in);
  if (!scopes) {
    FUZZ_CHECK(scopes.error().code == ErrorCode::kDenied, in);
    return;
  }
  std::string joined;
  Identity alice, anonymous;
  alice.user = "alice";
  alice.id = 7;
  // Every kind of standing a caller may have in a namespace.
  NamespaceAccess nothing, reader{true, false, "reader", std::nullopt},
      open{true, true, "", std::nullopt}, robot{true, false, "", {{"pull"}}};
  for (const Grant& g : *scopes) {
    FUZZ_CHECK(g.type.find_first_of(": ") == std::string::npos, in);
    FUZZ_CHECK(g.name.find(' ') == std::string::npos, in);
    for (const auto& a : g.actions) {
      FUZZ_CHECK(!a.empty() && a.find_first_of(":, ") == std::string::npos, in);
    }
    std::string s = ScopeString(g);
    auto again = ParseScopes(s);
    FUZZ_CHECK(again && again->size() == 1 && (*again)[0] == g, in);
    if (!joined.empty()) joined += ' ';
    joined += s;

    for (const NamespaceAccess* standing : {&nothing, &reader, &open, &robot}) {
      auto permitted = PermittedActions(alice, g, *standing);
      for (const auto& a : permitted) {
        FUZZ_CHECK(std::find(g.actions.begin(), g.actions.end(), a) != g.actions.end(), in);
      }
    }
    FUZZ_CHECK(PermittedActions(alice, g, nothing).empty() || g.type == "registry", in);
    for (const auto& a : PermittedActions(anonymous, g, open)) FUZZ_CHECK(a == "pull", in);
    FUZZ_CHECK(PermittedActions(anonymous, g, nothing).empty(), in);
  }
  auto all = ParseScopes(joined);
  FUZZ_CHECK(all && *all == *scopes, in);
}

void CheckToken(std::string_view in) {
  std::string_view header = R"({"alg":"EdDSA","typ":"JWT"})", payload = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    header = in.substr(0, nl);
    payload = in.substr(nl + 1);
  }
  std::string token = Sign(header, payload);
  auto claims = g_tokens->Verify(token, "keep", kNow);
  if (claims) {
    FUZZ_CHECK(claims->audience == "keep", in);
    FUZZ_CHECK(claims->expires_at > kNow, in);
  } else {
    FUZZ_CHECK(claims.error().code == ErrorCode::kUnauthorized, in);
  }
  // The same token for another audience, or tampered with, never verifies.
  FUZZ_CHECK(!g_tokens->Verify(token, "elsewhere", kNow), in);
  char& c = token[token.size() - 10];  // inside the signature
  c = c == 'A' ? 'B' : 'A';
  FUZZ_CHECK(!g_tokens->Verify(token, "keep", kNow), in);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (sodium_init() < 0) std::abort();
  std::string tmpl = (std::filesystem::temp_directory_path() / "keep-fuzz-token-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  g_dir = tmpl;
  unsigned char seed[crypto_sign_SEEDBYTES] = {'k', 'e', 'e', 'p'};
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, g_sk, seed);
  std::string key = (g_dir / "token.key").string();
  std::ofstream(key, std::ios::binary).write(reinterpret_cast<const char*>(g_sk), sizeof g_sk);
  auto t = TokenIssuer::Open(key, "keep");
  if (!t) std::abort();
  g_tokens = std::make_unique<TokenIssuer>(std::move(*t));
  std::filesystem::remove_all(g_dir);  // the key is read: nothing is left behind
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;
  std::string_view in = keep::fuzz::AsText(data, size);
  CheckScopes(in);
  CheckToken(in);
  return 0;
}
