// keepctl's signing commands: key generate (offline), and against a real
// keepd key add/list/show/revoke, policy show/set, sign and verify.
#include "tests/cli/keepctl_fixture.h"
#include "tests/support/registry.h"
#include "trust/trust.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ostringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs `keepctl key generate --out DIR/NAME ...` and returns the key id.
std::string Generate(const Keepctl& keepctl, const std::string& name,
                     std::vector<std::string> extra = {}, std::string_view stdin_data = {}) {
  std::vector<std::string> args = {"key", "generate", "--out", (keepctl.dir() / name).string()};
  args.insert(args.end(), extra.begin(), extra.end());
  KeepctlRun run = keepctl.Run(args, stdin_data);
  EXPECT_EQ(run.exit_code, 0) << run;
  return ValueOf(run.out, "key_id");
}

TEST(KeepctlKeyGenerate, WritesAPrivateKeyForTheOwnerOnlyAndAPublicKey) {
  Keepctl keepctl;  // never logged in: generating needs no server
  std::string id = Generate(keepctl, "signer");
  fs::path key = keepctl.dir() / "signer.key", pub = keepctl.dir() / "signer.pub";
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto parsed_pub = ParsePublicKey(Slurp(pub));
  ASSERT_TRUE(parsed_pub) << Slurp(pub);
  EXPECT_EQ(parsed_pub->algorithm(), "ed25519");
  EXPECT_EQ(parsed_pub->key_id(), id);
  EXPECT_EQ(Slurp(key).rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  auto parsed_key = ParsePrivateKey(Slurp(key), "");
  ASSERT_TRUE(parsed_key);
  EXPECT_EQ(parsed_key->public_key().key_id(), id);

  std::string ecdsa = Generate(keepctl, "p256", {"--algorithm", "ecdsa-p256"});
  EXPECT_EQ(ParsePublicKey(Slurp(keepctl.dir() / "p256.pub"))->algorithm(), "ecdsa-p256");
  EXPECT_NE(ecdsa, id);
}

TEST(KeepctlKeyGenerate, NeverOverwritesAKey) {
  Keepctl keepctl;
  Generate(keepctl, "signer");
  const std::string before = Slurp(keepctl.dir() / "signer.key");
  const std::string out = (keepctl.dir() / "signer").string();
  KeepctlRun run = keepctl.Run({"key", "generate", "--out", out});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "exists already")) << run;
  EXPECT_EQ(Slurp(keepctl.dir() / "signer.key"), before);

  // A .pub in the way: no .key is left behind either.
  std::ofstream(keepctl.dir() / "other.pub") << "mine\n";
  run = keepctl.Run({"key", "generate", "--out", (keepctl.dir() / "other").string()});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_FALSE(fs::exists(keepctl.dir() / "other.key"));
  EXPECT_EQ(Slurp(keepctl.dir() / "other.pub"), "mine\n");
}

TEST(KeepctlKeyGenerate, AnEncryptedKeyNeedsItsPassphrase) {
  Keepctl keepctl;
  std::string id = Generate(keepctl, "locked", {"--passphrase-stdin"}, "open sesame\n");
  const fs::path key = keepctl.dir() / "locked.key";
  EXPECT_EQ(Slurp(key).rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0), 0u);
  EXPECT_FALSE(ParsePrivateKey(Slurp(key), ""));
  EXPECT_FALSE(ParsePrivateKey(Slurp(key), "open sesam"));
  ASSERT_TRUE(ParsePrivateKey(Slurp(key), "open sesame"));
  EXPECT_EQ(ParsePrivateKey(Slurp(key), "open sesame")->public_key().key_id(), id);

  // keepctl sign reads the key before it talks to the (here unreachable) registry.
  fs::path creds = keepctl.credentials_file();
  fs::create_directories(creds.parent_path());
  std::ofstream(creds) << R"({"server":"https://127.0.0.1:1","user":"admin",)"
                       << R"("password":"integration-test-password","ca":""})";
  fs::permissions(creds, fs::perms::owner_read | fs::perms::owner_write);
  const std::vector<std::string> sign = {"sign", "acme/app:v1", "--key", key.string()};
  KeepctlRun run = keepctl.Run(sign);  // no terminal to ask on
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "--passphrase-stdin")) << run;
  std::vector<std::string> with_stdin = sign;
  with_stdin.push_back("--passphrase-stdin");
  run = keepctl.Run(with_stdin, "wrong\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "cannot use the key " + key.string())) << run;
  run = keepctl.Run(with_stdin, "open sesame\n");
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "cannot reach 127.0.0.1:1")) << run;
  keepctl.SetEnv("KEEPCTL_KEY_PASSPHRASE", "open sesame");
  run = keepctl.Run(sign);
  EXPECT_TRUE(Contains(run.err, "cannot reach 127.0.0.1:1")) << run;
}

TEST(KeepctlTrustCommandLine, BadCommandLinesExitTwo) {
  Keepctl keepctl;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"key", "generate"}, "the flag --out is required"},
      {{"key", "generate", "--out", "k", "--algorithm", "rsa"}, "ed25519 or ecdsa-p256"},
      {{"key", "add", "acme", "--file", "k.pub"}, "the flag --name is required"},
      {{"key", "revoke", "acme"}, "missing arguments"},
      {{"policy", "set", "acme"}, "nothing to change"},
      {{"policy", "set", "acme", "--mode", "lax"}, "quarantine, strict or open"},
      {{"policy", "set", "acme", "--threshold", "two"}, "--threshold takes a number"},
      {{"policy", "set", "acme", "--quarantine-ttl", "1y"}, "bad --quarantine-ttl"},
      {{"sign", "acme/app:v1"}, "the flag --key is required"},
      {{"gc", "--grace", "soon"}, "bad --grace"},
  };
  for (const auto& [args, expected] : cases) {
    SCOPED_TRACE(args.front() + " " + args.back());
    KeepctlRun run = keepctl.Run(args);
    EXPECT_EQ(run.exit_code, 2) << run;
    EXPECT_TRUE(Contains(run.err, expected)) << run;
    EXPECT_TRUE(Contains(run.err, "--help` for usage")) << run;
  }
  KeepctlRun run = keepctl.Run({"sign", "--help"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_TRUE(Contains(run.out, "Usage: keepctl sign REPO:TAG|REPO@DIGEST --key FILE")) << run;
}

class KeepctlTrustTest : public KeepctlServerTest {
 protected:
  void SetUp() override {
    KeepctlServerTest::SetUp();
    Ok({"namespace", "create", "acme"});
  }

  // A new key pair, its public half trusted in acme under `name`; its id.
  std::string TrustedKey(const std::string& name, std::vector<std::string> extra = {},
                         std::string_view stdin_data = {}) {
    std::string id = Generate(admin_, name, extra, stdin_data);
    std::string out =
        Ok({"key", "add", "acme", "--name", name, "--file", Pub(name)});
    EXPECT_EQ(ValueOf(out, "key_id"), id) << out;
    return id;
  }
  std::string Key(const std::string& name) const { return (admin_.dir() / (name + ".key")).string(); }
  std::string Pub(const std::string& name) const { return (admin_.dir() / (name + ".pub")).string(); }

  HttpsClient client_ = keepd_.AdminClient();
};

TEST_F(KeepctlTrustTest, KeysAreAddedListedShownAndRevoked) {
  std::string id = TrustedKey("alice");
  std::string out = Ok({"key", "list", "acme"});
  EXPECT_TRUE(Contains(out, "KEY_ID")) << out;
  EXPECT_TRUE(Contains(out, "\n" + id + "  alice  ed25519")) << out;

  out = Ok({"key", "show", "acme", id.substr(0, 12)});
  EXPECT_EQ(ValueOf(out, "key_id"), id) << out;
  EXPECT_EQ(ValueOf(out, "revoked"), "false") << out;
  EXPECT_TRUE(Contains(out, "public_key:\n" + Slurp(Pub("alice")))) << out;

  // The same key twice: the server's 409; a private key: never sent.
  KeepctlRun run = admin_.Run({"key", "add", "acme", "--name", "again", "--file", Pub("alice")});
  EXPECT_EQ(run.exit_code, 1) << run;
  run = admin_.Run({"key", "add", "acme", "--name", "oops", "--file", Key("alice")});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "holds a private key; nothing was sent")) << run;

  EXPECT_EQ(Ok({"key", "revoke", "acme", id}), "Revoked key " + id + " (alice) in acme\n");
  EXPECT_EQ(ValueOf(Ok({"key", "show", "acme", id}), "revoked"), "true");
  nlohmann::json keys = nlohmann::json::parse(Ok({"--output", "json", "key", "list", "acme"}));
  ASSERT_EQ(keys["keys"].size(), 1u) << keys;
  EXPECT_EQ(keys["keys"][0]["revoked"], true);
  run = admin_.Run({"key", "show", "acme", "0000"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "no key 0000 in the namespace acme")) << run;
}

TEST_F(KeepctlTrustTest, AnArmoredOpenPgpKeyIsAddedByItsFingerprint) {
  const std::string dir = std::string(KEEP_TESTDATA) + "/trust/openpgp/";
  std::string fpr = Slurp(dir + "ed25519.fpr");
  fpr.erase(fpr.find_last_not_of("\n") + 1);
  std::string out = Ok({"key", "add", "acme", "--name", "gpg", "--file", dir + "ed25519.pub.asc"});
  EXPECT_EQ(ValueOf(out, "key_id"), fpr) << out;
  EXPECT_TRUE(Contains(out, "Added openpgp-ed25519 key gpg to acme")) << out;
  // The secret half is never sent.
  KeepctlRun run = admin_.Run({"key", "add", "acme", "--name", "oops", "--file", dir + "ed25519.sec.asc"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "holds a private key; nothing was sent")) << run;
}

TEST_F(KeepctlTrustTest, PolicyIsShownAndSet) {
  std::string out = Ok({"policy", "show", "acme"});
  EXPECT_EQ(ValueOf(out, "mode"), "quarantine") << out;
  EXPECT_EQ(ValueOf(out, "threshold"), "1") << out;
  EXPECT_EQ(ValueOf(out, "quarantine_ttl"), "1d") << out;

  out = Ok({"policy", "set", "acme", "--mode", "strict", "--threshold", "2",
            "--quarantine-ttl", "1d12h"});
  EXPECT_EQ(ValueOf(out, "mode"), "strict") << out;
  out = Ok({"policy", "set", "acme", "--threshold=3"});  // only what is given changes
  EXPECT_EQ(out, "mode: strict\nthreshold: 3\nquarantine_ttl: 1d12h\n");
  nlohmann::json policy = nlohmann::json::parse(Ok({"--output", "json", "policy", "show", "acme"}));
  EXPECT_EQ(policy, (nlohmann::json{{"mode", "strict"}, {"threshold", 3}, {"quarantine_ttl", 129600}}));

  KeepctlRun run = admin_.Run({"policy", "set", "acme", "--threshold", "17"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "threshold")) << run;
}

TEST_F(KeepctlTrustTest, ASignedImageIsTrusted) {
  std::string id = TrustedKey("ci");
  Manifest m = PushImage(client_, "acme/app", "v1");
  KeepctlRun run = admin_.Run({"verify", "acme/app:v1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.out, "signatures: none\ntrusted: no (policy: quarantine, threshold 1)"))
      << run;
  EXPECT_TRUE(Contains(run.err, "acme/app:v1 is not trusted")) << run;

  EXPECT_EQ(Ok({"sign", "acme/app:v1", "--key", Key("ci")}),
            "Signed acme/app@" + m.digest() + " with key " + id + "\n");
  std::string out = Ok({"verify", "acme/app:v1"});
  EXPECT_EQ(ValueOf(out, "image"), "acme/app@" + m.digest());
  EXPECT_TRUE(Contains(out, "\n" + id + "  ci ")) << out;
  EXPECT_TRUE(Contains(out, "  cosign  ")) << out;
  EXPECT_TRUE(Contains(out, "trusted: yes (policy: quarantine, threshold 1)\n")) << out;
  EXPECT_EQ(Ok({"verify", "acme/app@" + m.digest()}), out);

  // Signing again adds nothing; the signature manifest is cosign's layout.
  EXPECT_TRUE(Contains(Ok({"sign", "acme/app@" + m.digest(), "--key", Key("ci")}), "already"));
  std::string sig_tag = "sha256-" + m.digest().substr(7) + ".sig";
  Response sig = client_.Get(ManifestPath("acme/app", sig_tag), {{"Accept", mt::kOciManifest}});
  ASSERT_EQ(sig.status, 200) << sig.body;
  auto layers = ReadCosignSignatures(sig.Json());
  ASSERT_TRUE(layers) << sig.body;
  EXPECT_EQ(layers->size(), 1u);
}

TEST_F(KeepctlTrustTest, ABundleSignatureIsACosignV3Referrer) {
  std::string id = TrustedKey("ci", {"--algorithm", "ecdsa-p256"});
  Manifest m = PushImage(client_, "acme/app", "v1");
  KeepctlRun bad = admin_.Run({"sign", "acme/app:v1", "--key", Key("ci"), "--format", "v3"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_TRUE(Contains(bad.err, "--format is cosign or bundle")) << bad;

  nlohmann::json signed_ = nlohmann::json::parse(
      Ok({"--output", "json", "sign", "acme/app:v1", "--key", Key("ci"), "--format", "bundle"}));
  EXPECT_EQ(signed_["added"], true) << signed_;
  std::string out = Ok({"verify", "acme/app:v1"});
  EXPECT_TRUE(Contains(out, "\n" + id + "  ci ")) << out;
  EXPECT_TRUE(Contains(out, "  sigstore-bundle  ")) << out;
  EXPECT_TRUE(Contains(out, "trusted: yes")) << out;
  // No signature tag: the bundle is a referrer, in cosign's BUNDLE_SPEC layout.
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "sha256-" + m.digest().substr(7) + ".sig")).status,
            404);
  nlohmann::json index = client_.Get(ReferrersPath("acme/app", m.digest())).Json();
  ASSERT_EQ(index["manifests"].size(), 1u) << index;
  EXPECT_EQ(index["manifests"][0]["digest"], signed_["referrer"]);
  EXPECT_EQ(index["manifests"][0]["artifactType"], kSigstoreBundleMediaType);
  Response referrer = client_.Get(ManifestPath("acme/app", signed_["referrer"].get<std::string>()),
                                  {{"Accept", mt::kOciManifest}});
  EXPECT_EQ(referrer.Json()["subject"], m.Descriptor()) << referrer.body;

  // Signing again adds nothing.
  EXPECT_TRUE(Contains(Ok({"sign", "acme/app:v1", "--key", Key("ci"), "--format", "bundle"}),
                       "already"));
  EXPECT_EQ(client_.Get(ReferrersPath("acme/app", m.digest())).Json()["manifests"].size(), 1u);
}

TEST_F(KeepctlTrustTest, AnUntrustedKeyIsDenied) {
  TrustedKey("ci");
  std::string stranger = Generate(admin_, "stranger");
  PushImage(client_, "acme/app", "v1");
  KeepctlRun run = admin_.Run({"sign", "acme/app:v1", "--key", Key("stranger")});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(run.out, "") << run;
  EXPECT_EQ(run.err.rfind("keepctl: signature for sha256:", 0), 0u) << run;
  EXPECT_TRUE(Contains(run.err, "refused")) << run;
  // It names the key used and how a maintainer would trust it.
  EXPECT_TRUE(Contains(run.err, "the key used is " + stranger)) << run;
  EXPECT_TRUE(Contains(run.err, "keepctl key add acme --name NAME --file KEY.pub")) << run;

  // Next to a good signature the registry keeps the manifest but not ours:
  // keepctl notices and says so.
  Ok({"sign", "acme/app:v1", "--key", Key("ci")});
  run = admin_.Run({"sign", "acme/app:v1", "--key", Key("stranger")});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "did not accept the signature of key " + stranger)) << run;
}

TEST_F(KeepctlTrustTest, TwoKeysMeetAThresholdOfTwo) {
  std::string one = TrustedKey("one");
  std::string two = TrustedKey("two", {"--algorithm", "ecdsa-p256", "--passphrase-stdin"},
                               "secret words\n");
  Ok({"policy", "set", "acme", "--threshold", "2"});
  Manifest m = PushImage(client_, "acme/app", "v1");

  Ok({"sign", "acme/app:v1", "--key", Key("one")});
  KeepctlRun run = admin_.Run({"verify", "acme/app:v1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.out, "trusted: no (policy: quarantine, threshold 2)")) << run;
  EXPECT_TRUE(Contains(run.err, "signed by 1 trusted key(s)")) << run;

  Ok({"sign", "acme/app:v1", "--key", Key("two"), "--passphrase-stdin"}, "secret words\n");
  std::string out = Ok({"verify", "acme/app:v1"});
  // One row per key in the table, however often the server lists it.
  EXPECT_EQ(out.find(one + "  one"), out.rfind(one + "  one")) << out;
  EXPECT_NE(out.find(one + "  one"), std::string::npos) << out;
  EXPECT_TRUE(Contains(out, two + "  two")) << out;
  EXPECT_TRUE(Contains(out, "trusted: yes (policy: quarantine, threshold 2)")) << out;
  nlohmann::json verdict =
      nlohmann::json::parse(Ok({"--output", "json", "verify", "acme/app@" + m.digest()}));
  EXPECT_EQ(verdict["trusted"], true);
  std::set<std::string> signers;
  for (const auto& s : verdict["signatures"]) signers.insert(s["key_id"].get<std::string>());
  EXPECT_EQ(signers, (std::set<std::string>{one, two})) << verdict;
  Response sig = client_.Get(ManifestPath("acme/app", "sha256-" + m.digest().substr(7) + ".sig"),
                             {{"Accept", mt::kOciManifest}});
  auto layers = ReadCosignSignatures(sig.Json());
  ASSERT_TRUE(layers) << sig.body;
  EXPECT_EQ(layers->size(), 2u) << sig.body;
}

TEST_F(KeepctlTrustTest, StrictModeSignsTheManifestFileBeforeThePush) {
  TrustedKey("ci");
  Ok({"policy", "set", "acme", "--mode", "strict"});
  Manifest m = PrepareImage(client_, "acme/app");
  EXPECT_EQ(PutManifest(client_, "acme/app", "v1", m).status, 403);
  fs::path file = admin_.dir() / "manifest.json";
  std::ofstream(file, std::ios::binary) << m.bytes;

  KeepctlRun run = admin_.Run({"sign", "acme/app:v1", "--key", Key("ci")});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "--manifest-file")) << run;
  std::string out = Ok({"sign", "acme/app:v1", "--key", Key("ci"), "--manifest-file",
                        file.string()});
  EXPECT_TRUE(Contains(out, "Signed acme/app@" + m.digest())) << out;
  EXPECT_EQ(PutManifest(client_, "acme/app", "v1", m).status, 201);
  EXPECT_TRUE(Contains(Ok({"verify", "acme/app:v1"}), "trusted: yes (policy: strict")) << out;

  run = admin_.Run({"sign", "acme/app@sha256:" + std::string(64, 'a'), "--key", Key("ci"),
                    "--manifest-file", file.string()});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "has the digest " + m.digest())) << run;
}

}  // namespace
}  // namespace keep::testkit

namespace keep::testkit {
namespace {

// The strict-mode refusal tells a docker user to sign ns/repo@<digest>: that
// works with nothing stored yet, as a cosign signature names only the digest.
TEST_F(KeepctlTrustTest, StrictModeSignsADigestThatIsNotStoredYet) {
  TrustedKey("ci");
  Ok({"policy", "set", "acme", "--mode", "strict"});
  Manifest m = PrepareImage(client_, "acme/app");
  Response refused = PutManifest(client_, "acme/app", "v1", m);
  ASSERT_EQ(StatusAndCode(refused), "403 DENIED");
  const std::string by_digest = "acme/app@" + m.digest();
  EXPECT_TRUE(Contains(ErrorMessage(refused), "keepctl sign " + by_digest)) << refused.body;
  std::string out = Ok({"sign", by_digest, "--key", Key("ci")});
  EXPECT_TRUE(Contains(out, "Signed " + by_digest)) << out;
  EXPECT_EQ(PutManifest(client_, "acme/app", "v1", m).status, 201);
  EXPECT_TRUE(Contains(Ok({"verify", "acme/app:v1"}), "trusted: yes (policy: strict"));
  // A bundle names its subject's media type and size: that needs the manifest.
  Manifest other = PrepareImage(client_, "acme/app", {.layer = "other"});
  KeepctlRun run = admin_.Run({"sign", "acme/app@" + other.digest(), "--key", Key("ci"),
                               "--format", "bundle"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "--manifest-file")) << run;
  // A tag that does not exist is still an error: there is no digest to sign.
  run = admin_.Run({"sign", "acme/app:nothing", "--key", Key("ci")});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "there is no manifest acme/app:nothing")) << run;
}

// CI signs as a robot, with its secret in the environment and no saved login.
TEST_F(KeepctlTrustTest, ARobotSignsWithCredentialsFromTheEnvironment) {
  TrustedKey("ci");
  std::string out = Ok({"robot", "create", "builder", "--scope", "acme:pull,push"});
  std::string secret = ValueOf(out, "secret");
  ASSERT_FALSE(secret.empty()) << out;
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "built in CI"});
  Keepctl ci;
  ci.SetEnv("KEEPCTL_SERVER", Url());
  ci.SetEnv("KEEPCTL_CA", keepd_.ca_file());
  ci.SetEnv("KEEPCTL_USER", "robot+builder");
  ci.SetEnv("KEEPCTL_PASSWORD", secret);
  KeepctlRun run = ci.Run({"sign", "acme/app:v1", "--key", Key("ci")});
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_TRUE(Contains(run.out, "Signed acme/app@" + m.digest())) << run;
  EXPECT_FALSE(fs::exists(ci.credentials_file()));
  run = ci.Run({"verify", "acme/app:v1"});
  EXPECT_EQ(run.exit_code, 0) << run;
  // Its scope is acme: elsewhere the registry refuses it, saying why.
  run = ci.Run({"sign", "other/app@sha256:" + std::string(64, 'b'), "--key", Key("ci")});
  EXPECT_EQ(run.exit_code, 1) << run;
  // Half-set environment is an error that says what is missing.
  ci.UnsetEnv("KEEPCTL_PASSWORD");
  run = ci.Run({"whoami"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "KEEPCTL_PASSWORD")) << run;
}

TEST_F(KeepctlTrustTest, QuarantineIsListedAndDropped) {
  std::string key = TrustedKey("one");
  Manifest waiting = PushImage(client_, "acme/app", "waiting", {.layer = "unsigned"});
  Manifest signed_image = PushImage(client_, "acme/app", "signed", {.layer = "signed"});
  Ok({"sign", "acme/app:signed", "--key", Key("one")});
  std::string listed = Ok({"quarantine", "list", "acme"});
  EXPECT_TRUE(Contains(listed, waiting.digest())) << listed;
  EXPECT_TRUE(Contains(listed, "waiting")) << listed;
  EXPECT_FALSE(Contains(listed, signed_image.digest())) << listed;
  // Dropping needs a digest, and only quarantined manifests go.
  EXPECT_EQ(admin_.Run({"quarantine", "drop", "acme/app:waiting"}).exit_code, 2);
  KeepctlRun refused = admin_.Run({"quarantine", "drop", "acme/app@" + signed_image.digest()});
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_TRUE(Contains(refused.err, "not quarantined")) << refused;
  Ok({"quarantine", "drop", "acme/app@" + waiting.digest()});
  EXPECT_FALSE(Contains(Ok({"quarantine", "list", "acme"}), waiting.digest()));
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", "waiting")).status, 404);
}

}  // namespace
}  // namespace keep::testkit
