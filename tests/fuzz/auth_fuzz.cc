// Fuzzes the Authorization header path (auth/auth.h): AuthenticateCached on
// every input (Basic and Bearer), and Authenticate where it is cheap.
//
// LLVMFuzzerInitialize makes a real SQLite metadata database in a temporary
// directory with one user, alice (password "wonderland"), a token key made
// from a fixed seed (so committed seed tokens verify), and verifies alice's
// credentials once so that they are cached.
//
// Argon2id costs ~20 ms per check, so Authenticate runs only when it is
// cheap or rare: malformed Basic credentials and unknown users (no hash
// check), alice's right password (checked once per header spelling, then
// cached), and at most kWrongPasswordBudget wrong passwords per process
// (after a few, the login throttle answers without a check anyway). Each
// call comes from a new client address, so only the per-user throttle acts.
//
// Invariants: no credentials is anonymous; a scheme other than Basic or
// Bearer is refused; a Basic header is answered from the cache only when it
// was verified before; Authenticate agrees with the credentials (alice with
// the right password, kUnauthorized otherwise, or kTooManyRequests once the
// user has failed logins); a Bearer header is accepted
// only when TokenIssuer::Verify accepts its token, and names alice or nobody;
// Authorize refuses an anonymous caller anything but open access.
//
// KEEP_FUZZ_AUTH_SEEDS=<dir> makes Initialize write the Bearer seed tokens
// (signed with the fixed key) into <dir>, for corpus/auth.
#include "auth/auth.h"
#include "core/base64.h"
#include "fuzz_check.h"
#include "storage/metadata.h"

#include <sodium.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

namespace {

using namespace keep;

constexpr std::string_view kUser = "alice";
constexpr std::string_view kPassword = "wonderland";
constexpr std::string_view kService = "keep";
constexpr std::size_t kMaxInput = 1024;
constexpr int kWrongPasswordBudget = 8;

struct World {
  std::filesystem::path dir;
  std::unique_ptr<Metadata> metadata;
  std::unique_ptr<TokenIssuer> tokens;
  std::unique_ptr<Authenticator> auth;
  std::set<std::string> verified;  // headers Authenticate accepted
  int wrong_password_checks = 0;
  std::uint64_t remotes = 0;
};
World* g_world = nullptr;

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "auth fuzz setup: %s\n", why.c_str());
  std::exit(1);
}

// What Authenticate reads from a Basic header: user and password, or nothing.
std::optional<std::pair<std::string, std::string>> DecodeBasic(std::string_view header) {
  std::string_view b64 = header.substr(6);
  std::string out(b64.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), b64.data(),
                        b64.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  auto colon = out.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{out.substr(0, colon), out.substr(colon + 1)};
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

void WriteSeedTokens(const TokenIssuer& tokens, const std::string& dir) {
  const std::int64_t now = 1700000000, future = 4102444800;  // 2023, 2100
  std::vector<Grant> push{{"repository", "acme/app", {"pull", "push"}}};
  struct Seed {
    const char* name;
    TokenClaims claims;
  } seeds[] = {
      {"bearer-alice", {"alice", "keep", now, future, push}},
      {"bearer-anonymous", {"", "keep", now, future, {{"repository", "acme/app", {"pull"}}}}},
      {"bearer-catalog", {"alice", "keep", now, future, {{"registry", "catalog", {"*"}}}}},
      {"bearer-expired", {"alice", "keep", now, now + 300, push}},
      {"bearer-other-service", {"alice", "elsewhere", now, future, push}},
      {"bearer-unknown-user", {"bob", "keep", now, future, push}},
  };
  for (const auto& s : seeds) {
    std::ofstream(dir + "/" + s.name, std::ios::binary) << "Bearer " << tokens.Issue(s.claims);
  }
}

void Cleanup() {
  if (g_world == nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(g_world->dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (sodium_init() < 0) Die("sodium_init failed");
  auto* w = new World;  // lives for the process
  g_world = w;
  std::string tmpl = (std::filesystem::temp_directory_path() / "keep-fuzz-auth-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp failed");
  w->dir = tmpl;
  std::atexit(Cleanup);

  auto metadata = OpenSqliteMetadata((w->dir / "metadata.db").string());
  if (!metadata) Die(metadata.error().message);
  w->metadata = std::move(*metadata);
  auto hash = HashPassword(kPassword);
  if (!hash) Die(hash.error().message);
  UserRecord user;
  user.name = kUser;
  user.password_hash = *hash;
  if (!w->metadata->CreateUser(user)) Die("CreateUser failed");

  // A fixed key, so that the committed seed tokens verify.
  unsigned char seed[crypto_sign_SEEDBYTES] = {'k', 'e', 'e', 'p', '-', 'f', 'u', 'z', 'z'};
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, seed);
  std::string key_path = (w->dir / "token.key").string();
  std::ofstream(key_path, std::ios::binary).write(reinterpret_cast<const char*>(sk), sizeof sk);
  auto tokens = TokenIssuer::Open(key_path, "keep");
  if (!tokens) Die(tokens.error().message);
  w->tokens = std::make_unique<TokenIssuer>(std::move(*tokens));
  if (const char* dir = std::getenv("KEEP_FUZZ_AUTH_SEEDS")) WriteSeedTokens(*w->tokens, dir);

  w->auth = std::make_unique<Authenticator>(*w->metadata, std::chrono::hours(24), *w->tokens,
                                            std::string(kService));
  std::string good = "Basic " + EncodeBase64(std::string(kUser) + ":" + std::string(kPassword));
  auto who = w->auth->Authenticate(good, "192.0.2.1");
  if (!who || who->user != kUser) Die("alice's credentials do not verify");
  w->verified.insert(good);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxInput) return -1;  // headers are bounded; keep inputs small
  World& w = *g_world;
  std::string_view in = keep::fuzz::AsText(data, size);
  std::string header(in);

  auto quick = w.auth->AuthenticateCached(header);
  bool basic = StartsWithNoCase(header, "basic ");
  bool bearer = StartsWithNoCase(header, "bearer ");

  std::optional<Result<Identity>> answer = quick;
  if (header.empty()) {
    FUZZ_CHECK(quick && *quick && (*quick)->anonymous() && !(*quick)->grants, in);
  } else if (bearer) {
    FUZZ_CHECK(quick.has_value(), in);  // tokens never need a password check
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    auto claims = w.tokens->Verify(std::string_view(header).substr(7), kService, now);
    if (*quick) {
      FUZZ_CHECK(claims.has_value(), in);
      FUZZ_CHECK((*quick)->grants.has_value(), in);
      FUZZ_CHECK((*quick)->user.empty() || (*quick)->user == kUser, in);
      FUZZ_CHECK((*quick)->user == claims->subject, in);
    } else {
      FUZZ_CHECK((*quick).error().code == ErrorCode::kUnauthorized, in);
    }
  } else if (!basic) {
    FUZZ_CHECK(quick && !*quick && (*quick).error().code == ErrorCode::kUnauthorized, in);
  } else if (quick) {
    // A Basic answer without a password check is a cache hit.
    FUZZ_CHECK(*quick && (*quick)->user == kUser && w.verified.count(header) == 1, in);
  } else {
    auto creds = DecodeBasic(header);
    bool known = false, right = false;
    if (creds) {
      auto user = w.metadata->GetUser(creds->first);
      FUZZ_CHECK(user.has_value(), in);
      known = user->has_value();
      right = known && creds->first == kUser && creds->second == kPassword;
    }
    bool run = !known || right || w.wrong_password_checks < kWrongPasswordBudget;
    if (known && !right) ++w.wrong_password_checks;
    if (run) {
      // A new client address each time: the per-address throttle would
      // otherwise lock the fuzzer out after its first few failures.
      std::string remote = "198.51.100." + std::to_string(++w.remotes);
      auto full = w.auth->Authenticate(header, remote);
      if (full) {
        FUZZ_CHECK(right && full->user == kUser && !full->grants, in);
        w.verified.insert(header);
        // Now cached.
        auto again = w.auth->AuthenticateCached(header);
        FUZZ_CHECK(again && *again && (*again)->user == kUser, in);
      } else if (full.error().code == ErrorCode::kTooManyRequests) {
        // The per-user throttle: only after failed logins for that user.
        FUZZ_CHECK(!right || w.wrong_password_checks > 0, in);
      } else {
        FUZZ_CHECK(!right && full.error().code == ErrorCode::kUnauthorized, in);
      }
      answer = full;
    }
  }

  // Whoever it is, Authorize must hold to the basics.
  if (answer && answer->has_value()) {
    const Identity& who = **answer;
    for (Action a : {Action::kNone, Action::kLogin, Action::kPull, Action::kPush, Action::kDelete,
                     Action::kCatalog, Action::kPerson, Action::kAdmin, Action::kMaintain,
                     Action::kSelf}) {
      auto ok = Authorize(*w.metadata, who, Access{a, "acme/app"});
      if (a == Action::kNone) FUZZ_CHECK(ok.has_value(), in);
      if (who.anonymous() && !who.grants && a != Action::kNone) FUZZ_CHECK(!ok, in);
      if (!ok) {
        FUZZ_CHECK(ok.error().code == ErrorCode::kUnauthorized ||
                       ok.error().code == ErrorCode::kDenied,
                   in);
      }
    }
  }
  return 0;
}
