// Mirror rules as the admin API receives them (mirror/rule.h): every refusal
// is kInvalid and names the member at fault; Docker Hub names, globs and the
// local/upstream mapping; the stored form never holds the password. And the
// mirror's two secrets (mirror/keys.h): sealed credentials and the curator key.
#include "core/base64.h"
#include "mirror/keys.h"
#include "mirror/rule.h"
#include "trust/keys.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace keep::mirror {
namespace {

using nlohmann::json;

// A valid rule; each test changes what it is about.
json Base() {
  return json{{"name", "app"},
              {"upstream", "https://registry.example:5000"},
              {"repositories", {"acme/app"}},
              {"tags", {"v1", "3.*"}},
              {"target", "mirror"},
              {"reference_host", "keep.example:5000"},
              {"vetting", {{"trust_on_first_sync", true}}}};
}

std::string NewPublicPem() {
  auto pair = GenerateKeyPair(kAlgorithmEd25519, "");
  EXPECT_TRUE(pair) << pair.error().message;
  return pair ? pair->public_pem : std::string();
}

std::string Sha256(char fill) { return "sha256:" + std::string(64, fill); }

Rule Parsed(const json& j) {
  auto r = ParseRule(j);
  EXPECT_TRUE(r) << r.error().message << "\n" << j.dump();
  return r ? *r : Rule{};
}

// Refused with kInvalid, and the message contains every needle.
void ExpectRefused(const json& j, std::initializer_list<std::string_view> needles) {
  auto r = ParseRule(j);
  ASSERT_FALSE(r) << "accepted: " << j.dump();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid) << r.error().message;
  for (auto needle : needles) {
    EXPECT_NE(r.error().message.find(needle), std::string::npos)
        << "wanted \"" << needle << "\" in: " << r.error().message;
  }
}

TEST(MirrorRule, BaseRuleParses) {
  Rule r = Parsed(Base());
  EXPECT_EQ(r.name, "app");
  EXPECT_EQ(r.url, "https://registry.example:5000");
  EXPECT_FALSE(r.docker_hub);
  EXPECT_EQ(r.repositories, std::vector<std::string>{"acme/app"});
  EXPECT_EQ(r.Namespace(), "mirror");
  EXPECT_TRUE(r.vetting.trust_on_first_sync);
  EXPECT_EQ(r.interval_seconds, 0);
  EXPECT_FALSE(r.pull_through);
}

TEST(MirrorRule, EachRequiredMemberIsNamedWhenMissing) {
  for (const char* member :
       {"name", "upstream", "repositories", "tags", "vetting", "reference_host"}) {
    SCOPED_TRACE(member);
    json j = Base();
    j.erase(member);
    ExpectRefused(j, {std::string("\"") + member + "\""});
  }
}

TEST(MirrorRule, EmptyListsAreRefused) {
  json j = Base();
  j["repositories"] = json::array();
  ExpectRefused(j, {"\"repositories\""});
  j = Base();
  j["tags"] = json::array();
  ExpectRefused(j, {"\"tags\""});
  j = Base();
  j["tags"] = {""};
  ExpectRefused(j, {"\"tags\""});
}

TEST(MirrorRule, NotAnObjectIsRefused) {
  ExpectRefused(json::array(), {"JSON object"});
  ExpectRefused(json("app"), {"JSON object"});
}

TEST(MirrorRule, BadNameIsRefused) {
  json j = Base();
  j["name"] = "Has Spaces";
  ExpectRefused(j, {"name"});
  j["name"] = 7;
  ExpectRefused(j, {"\"name\" must be a string"});
}

TEST(MirrorRule, UnknownMembersAreRefusedByNameAtEveryLevel) {
  json j = Base();
  j["colour"] = "blue";
  ExpectRefused(j, {"unknown member \"colour\"", "the rule"});

  j = Base();
  j["vetting"]["digest"] = {{"v1", Sha256('a')}};  // "digests" misspelt
  ExpectRefused(j, {"unknown member \"digest\"", "\"vetting\""});

  j = Base();
  j["vetting"]["signature"] = {{"keys", {NewPublicPem()}}, {"treshold", 1}};
  ExpectRefused(j, {"unknown member \"treshold\"", "\"vetting.signature\""});
}

TEST(MirrorRule, VettingWithNoRuleIsRefused) {
  json j = Base();
  j["vetting"] = json::object();
  ExpectRefused(j, {"\"vetting\" names no rule"});
  j["vetting"] = {{"trust_on_first_sync", false}};
  ExpectRefused(j, {"\"vetting\" names no rule"});
  j["vetting"] = "trust";
  ExpectRefused(j, {"\"vetting\""});
}

TEST(MirrorRule, BadPemKeyIsRefused) {
  json j = Base();
  const std::string bad_pem = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n";
  j["vetting"] = {{"signature", {{"keys", {bad_pem}}}}};
  ExpectRefused(j, {"\"vetting.signature.keys\""});
  j["vetting"]["signature"]["keys"] = {42};
  ExpectRefused(j, {"\"vetting.signature.keys\""});
  j["vetting"]["signature"]["keys"] = json::array();
  ExpectRefused(j, {"\"vetting.signature\" must list", "\"identities\""});
}

TEST(MirrorRule, KeylessIdentitiesAreReadLikeANamespacesAndCountTowardTheThreshold) {
  json j = Base();
  json release = {{"issuer", "https://token.actions.githubusercontent.com"},
                  {"subject_regex", "https://github\\.com/acme/app/.*"},
                  {"extensions", {{"source-repository-ref", "refs/tags/v1"}}}};
  j["vetting"] = {{"signature", {{"identities", {release}}, {"threshold", 1}}}};
  auto r = ParseRule(j);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->vetting.signature->identities.size(), 1u);
  EXPECT_EQ(r->vetting.signature->identities[0].name, "identity-1");
  EXPECT_EQ(IdentitySignerOf(r->vetting.signature->identities[0]), "identity:identity-1");
  // Written back as given, and read again the same.
  json back = RuleToJson(*r, false);
  EXPECT_EQ(back["vetting"]["signature"]["identities"][0]["subject_regex"],
            "https://github\\.com/acme/app/.*");
  auto again = ParseRule(back);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->vetting.signature->identities[0].extensions,
            r->vetting.signature->identities[0].extensions);

  // With a key: two signers, so a threshold of 2 is allowed, 3 is not.
  j["vetting"]["signature"]["keys"] = {NewPublicPem()};
  j["vetting"]["signature"]["threshold"] = 2;
  EXPECT_TRUE(ParseRule(j));
  j["vetting"]["signature"]["threshold"] = 3;
  ExpectRefused(j, {"threshold", "keys and identities (2)"});

  j["vetting"]["signature"]["threshold"] = 1;
  j["vetting"]["signature"]["identities"][0]["subject_regex"] = "https://github.com/acme/(";
  ExpectRefused(j, {"\"vetting.signature.identities\"[0]"});
  j["vetting"]["signature"]["identities"][0].erase("subject_regex");
  ExpectRefused(j, {"exactly one of \"subject\" and \"subject_regex\""});
  j["vetting"]["signature"]["identities"][0]["subject"] = "s";
  j["vetting"]["signature"]["identities"][0]["colour"] = "blue";
  ExpectRefused(j, {"unknown member \"colour\""});
  j["vetting"]["signature"]["identities"][0].erase("colour");
  j["vetting"]["signature"]["identities"] = {j["vetting"]["signature"]["identities"][0],
                                             j["vetting"]["signature"]["identities"][0]};
  j["vetting"]["signature"]["identities"][1]["name"] = "identity-1";
  ExpectRefused(j, {"names identity \"identity-1\" twice"});
}

TEST(MirrorRule, ThresholdIsBetweenOneAndTheDistinctKeys) {
  std::string a = NewPublicPem(), b = NewPublicPem();
  json j = Base();
  j["vetting"] = {{"signature", {{"keys", {a, b}}, {"threshold", 0}}}};
  ExpectRefused(j, {"\"vetting.signature.threshold\"", "(2)"});
  j["vetting"]["signature"]["threshold"] = 3;
  ExpectRefused(j, {"\"vetting.signature.threshold\"", "(2)"});
  j["vetting"]["signature"]["threshold"] = "2";
  ExpectRefused(j, {"\"vetting.signature.threshold\""});
  j["vetting"]["signature"]["threshold"] = 2;
  Rule r = Parsed(j);
  ASSERT_TRUE(r.vetting.signature);
  EXPECT_EQ(r.vetting.signature->keys.size(), 2u);
  EXPECT_EQ(r.vetting.signature->threshold, 2);
  // Without a threshold, one signature is enough.
  j["vetting"]["signature"].erase("threshold");
  r = Parsed(j);
  ASSERT_TRUE(r.vetting.signature);
  EXPECT_EQ(r.vetting.signature->threshold, 1);
}

TEST(MirrorRule, TheSameKeyTwiceCountsOnce) {
  std::string a = NewPublicPem();
  json j = Base();
  j["vetting"] = {{"signature", {{"keys", {a, a}}, {"threshold", 2}}}};
  ExpectRefused(j, {"\"vetting.signature.threshold\"", "(1)"});
  j["vetting"]["signature"]["threshold"] = 1;
  Rule r = Parsed(j);
  ASSERT_TRUE(r.vetting.signature);
  EXPECT_EQ(r.vetting.signature->keys.size(), 1u);
}

TEST(MirrorRule, PinsAreForNamedTagsWithSha256Digests) {
  json j = Base();
  j["vetting"] = {{"digests", {{"4.0", Sha256('a')}}}};
  ExpectRefused(j, {"\"vetting.digests\"", "4.0", "\"tags\" does not name"});

  j["vetting"] = {{"digests", {{"v1", "sha256:abc"}}}};
  ExpectRefused(j, {"\"vetting.digests\"", "v1", "sha256:<64 hex digits>"});
  j["vetting"] = {{"digests", {{"v1", 12}}}};
  ExpectRefused(j, {"\"vetting.digests\"", "v1"});
  j["vetting"] = {{"digests", {{"-bad", Sha256('a')}}}};
  ExpectRefused(j, {"\"vetting.digests\"", "not a tag"});
  j["vetting"] = {{"digests", json::object()}};
  ExpectRefused(j, {"\"vetting.digests\""});

  // A tag a glob names may be pinned.
  j["vetting"] = {{"digests", {{"v1", Sha256('a')}, {"3.20", Sha256('b')}}}};
  Rule r = Parsed(j);
  EXPECT_EQ(r.vetting.digests.at("v1"), Sha256('a'));
  EXPECT_EQ(r.vetting.digests.at("3.20"), Sha256('b'));
}

TEST(MirrorRule, IntervalIsZeroOrAtLeastAMinute) {
  json j = Base();
  for (int refused : {-1, 1, 30, 59}) {
    SCOPED_TRACE(refused);
    j["interval_seconds"] = refused;
    ExpectRefused(j, {"\"interval_seconds\""});
  }
  j["interval_seconds"] = 60.5;
  ExpectRefused(j, {"\"interval_seconds\""});
  for (int accepted : {0, 60, 86400}) {
    j["interval_seconds"] = accepted;
    EXPECT_EQ(Parsed(j).interval_seconds, accepted);
  }
}

TEST(MirrorRule, UpstreamIsAHostOrAUrlWithoutPathOrUserinfo) {
  json j = Base();
  for (const char* refused :
       {"https://registry.example/v2", "https://registry.example/acme", "registry.example/acme",
        "https://registry.example?x=1", "https://", ""}) {
    SCOPED_TRACE(refused);
    j["upstream"] = refused;
    ExpectRefused(j, {"\"upstream\""});
  }
  j["upstream"] = 5;
  ExpectRefused(j, {"\"upstream\" must be a string"});

  j["upstream"] = "ghcr.io";
  EXPECT_EQ(Parsed(j).url, "https://ghcr.io");
  j["upstream"] = "http://127.0.0.1:5000/";
  EXPECT_EQ(Parsed(j).url, "http://127.0.0.1:5000");
}

TEST(MirrorRule, UpstreamWithUserinfoIsRefusedWithoutEchoingIt) {
  json j = Base();
  j["upstream"] = "https://robot:s3cret-token@registry.example";
  auto r = ParseRule(j);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_NE(r.error().message.find("\"upstream\""), std::string::npos) << r.error().message;
  // The error is shown and logged: it must not carry the credentials.
  EXPECT_EQ(r.error().message.find("s3cret-token"), std::string::npos) << r.error().message;
}

TEST(MirrorRule, CredentialsGoTogether) {
  json j = Base();
  j["username"] = "robot";
  ExpectRefused(j, {"\"username\" and \"password\""});
  j.erase("username");
  j["password"] = "secret";
  ExpectRefused(j, {"\"username\" and \"password\""});
}

TEST(MirrorRule, OtherMembersAreChecked) {
  json j = Base();
  j["reference_host"] = "keep.example/path";
  ExpectRefused(j, {"\"reference_host\""});
  j = Base();
  j["ca_file"] = "relative/ca.pem";
  ExpectRefused(j, {"\"ca_file\""});
  j = Base();
  j["upstream_host"] = "docker.io/library";
  ExpectRefused(j, {"\"upstream_host\""});
  j = Base();
  j["pull_through"] = "yes";
  ExpectRefused(j, {"\"pull_through\""});
  j = Base();
  j["vetting"] = {{"trust_on_first_sync", "yes"}};
  ExpectRefused(j, {"\"vetting.trust_on_first_sync\""});
  j = Base();
  j["tags"] = {"not a tag"};
  ExpectRefused(j, {"not a valid tag"});
  j = Base();
  j["repositories"] = {"Acme/App"};
  ExpectRefused(j, {"repository \"Acme/App\""});
}

TEST(MirrorRule, DockerHubMapsOneWordRepositoriesToLibrary) {
  for (const char* upstream : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
    SCOPED_TRACE(upstream);
    json j = Base();
    j["upstream"] = upstream;
    j["repositories"] = {"alpine", "bitnami/redis", "library/alpine"};
    Rule r = Parsed(j);
    EXPECT_TRUE(r.docker_hub);
    EXPECT_EQ(r.url, "https://registry-1.docker.io");
    // "alpine" and "library/alpine" are one repository.
    EXPECT_EQ(r.repositories, (std::vector<std::string>{"library/alpine", "bitnami/redis"}));
    EXPECT_EQ(r.LocalRepository("library/alpine"), "mirror/library/alpine");
    EXPECT_EQ(UpstreamHost(r), "docker.io");
  }
}

TEST(MirrorRule, OtherUpstreamsKeepOneWordRepositories) {
  json j = Base();
  j["upstream"] = "ghcr.io";
  j["repositories"] = {"alpine"};
  Rule r = Parsed(j);
  EXPECT_FALSE(r.docker_hub);
  EXPECT_EQ(r.repositories, std::vector<std::string>{"alpine"});
}

TEST(MirrorRule, UpstreamHostDockerIoMakesAStandInBehaveAsDockerHub) {
  for (const char* given : {"docker.io", "Docker.IO", "index.docker.io"}) {
    SCOPED_TRACE(given);
    json j = Base();
    j["upstream"] = "https://hub-cache.internal:5000";
    j["upstream_host"] = given;
    j["repositories"] = {"alpine"};
    Rule r = Parsed(j);
    EXPECT_TRUE(r.docker_hub);
    EXPECT_EQ(r.url, "https://hub-cache.internal:5000");  // fetched from the stand-in
    EXPECT_EQ(r.upstream_host, "docker.io");
    EXPECT_EQ(r.repositories, std::vector<std::string>{"library/alpine"});
    EXPECT_EQ(UpstreamHost(r), "docker.io");
  }
  json j = Base();
  j["upstream"] = "https://ghcr-cache.internal";
  j["upstream_host"] = "GHCR.io";
  Rule r = Parsed(j);
  EXPECT_FALSE(r.docker_hub);
  EXPECT_EQ(UpstreamHost(r), "ghcr.io");
}

TEST(MirrorRule, AllowsTagByNameOrGlob) {
  json j = Base();
  j["tags"] = {"latest", "3.*", "v?", "1.[0-2]"};
  Rule r = Parsed(j);
  EXPECT_TRUE(r.HasGlobs());
  for (const char* yes : {"latest", "3.20", "3.", "v1", "vX", "1.0", "1.2"}) {
    EXPECT_TRUE(r.AllowsTag(yes)) << yes;
  }
  for (const char* no : {"Latest", "latest2", "3", "4.3", "v10", "v", "1.3", "1.10", ""}) {
    EXPECT_FALSE(r.AllowsTag(no)) << no;
  }
  j["tags"] = {"v1", "v2"};
  r = Parsed(j);
  EXPECT_FALSE(r.HasGlobs());
  EXPECT_TRUE(r.AllowsTag("v2"));
  EXPECT_FALSE(r.AllowsTag("v3"));
}

TEST(MirrorRule, SignatureTagsAreNeverMirroredAsImages) {
  const std::string hex(64, 'a');
  json j = Base();
  j["tags"] = {"*"};
  Rule r = Parsed(j);
  // A glob that matches everything still leaves signature tags to the
  // mirror, which keeps the signatures that vetted an image and signs itself.
  for (const std::string& tag : {"sha256-" + hex + ".sig", "sha256-" + hex}) {
    EXPECT_TRUE(IsSignatureTag(tag)) << tag;
    EXPECT_FALSE(r.AllowsTag(tag)) << tag;
    json named = Base();
    named["tags"] = {tag};
    ExpectRefused(named, {tag, "signature tag"});
  }
  for (const std::string& tag : {"sha256-" + hex.substr(1), "sha256-" + std::string(64, 'A'),
                                 "sha512-" + hex, "sha256-" + hex + ".att", std::string("v1")}) {
    EXPECT_FALSE(IsSignatureTag(tag)) << tag;
    EXPECT_TRUE(r.AllowsTag(tag)) << tag;
  }
}

TEST(MirrorRule, HostsAreHostAndPortOnly) {
  for (const char* yes :
       {"docker.io", "ghcr.io", "127.0.0.1:5000", "keep-1.example", "[::1]:5000", "[fd00::1]"}) {
    EXPECT_TRUE(IsHostAndPort(yes)) << yes;
  }
  for (const char* no :
       {"", "a b", "host\r\nX-Injected: 1", "host,other", "\"quoted\"", "host:", "host:123456",
        "host:port", ".host", "-host", "[::1", "[]", "host/path", "user@host", "[::1]:x"}) {
    EXPECT_FALSE(IsHostAndPort(no)) << no;
  }
  // upstream_host is echoed to clients in OCI-Namespace; reference_host is
  // written into the curator's signatures.
  json j = Base();
  j["upstream_host"] = "docker.io\r\nX-Injected: 1";
  ExpectRefused(j, {"upstream_host", "host[:port]"});
  j = Base();
  j["reference_host"] = "keep.example:5000,evil";
  ExpectRefused(j, {"reference_host", "host[:port]"});
}

TEST(MirrorRule, OneRuleLandsInOneNamespace) {
  json j = Base();
  j["target"] = "";
  j["repositories"] = {"acme/app", "other/app"};
  ExpectRefused(j, {"acme/app", "other/app", "different namespaces"});
  j["repositories"] = {"acme/app", "acme/tool"};
  EXPECT_EQ(Parsed(j).Namespace(), "acme");
  j["target"] = "mirror";
  j["repositories"] = {"acme/app", "other/app"};
  EXPECT_EQ(Parsed(j).Namespace(), "mirror");
}

TEST(MirrorRule, LocalAndUpstreamRepositories) {
  json j = Base();
  j["repositories"] = {"acme/app", "acme/tools/cli"};
  Rule r = Parsed(j);
  EXPECT_EQ(r.LocalRepository("acme/app"), "mirror/acme/app");
  EXPECT_EQ(r.UpstreamRepository("mirror/acme/app"), "acme/app");
  EXPECT_EQ(r.UpstreamRepository("mirror/acme/tools/cli"), "acme/tools/cli");
  EXPECT_EQ(r.UpstreamRepository("acme/app"), std::nullopt);  // the upstream name
  EXPECT_EQ(r.UpstreamRepository("mirror/acme/other"), std::nullopt);
  EXPECT_EQ(r.UpstreamRepository("mirror"), std::nullopt);

  // Without a target, repositories land under their own names.
  j.erase("target");
  r = Parsed(j);
  EXPECT_EQ(r.Namespace(), "acme");
  EXPECT_EQ(r.LocalRepository("acme/app"), "acme/app");
  EXPECT_EQ(r.UpstreamRepository("acme/app"), "acme/app");
}

TEST(MirrorRule, RuleToJsonNeverHoldsThePasswordAndRoundTrips) {
  json j = Base();
  j["username"] = "robot";
  j["password"] = "the-upstream-password";
  j["ca_file"] = "/etc/keep/upstream-ca.pem";
  j["upstream_host"] = "registry.example";
  j["interval_seconds"] = 3600;
  j["pull_through"] = true;
  j["tags"] = {"v1", "3.*"};
  j["vetting"] = {{"digests", {{"v1", Sha256('c')}}},
                  {"signature", {{"keys", {NewPublicPem(), NewPublicPem()}}, {"threshold", 2}}},
                  {"trust_on_first_sync", true}};
  Rule r = Parsed(j);
  EXPECT_EQ(r.password, "the-upstream-password");

  json stored = RuleToJson(r);
  EXPECT_EQ(stored.dump().find("the-upstream-password"), std::string::npos) << stored.dump();
  EXPECT_FALSE(stored.contains("password"));
  EXPECT_EQ(stored.value("password_set", false), true);
  EXPECT_EQ(stored.value("username", ""), "robot");

  // What is stored parses back to the same rule, less the password, which
  // the service gives back from the sealed text.
  Rule again = Parsed(stored);
  EXPECT_TRUE(again.password.empty());
  EXPECT_EQ(again.username, "robot");
  again.password = r.password;
  EXPECT_EQ(RuleToJson(again), stored);
  EXPECT_EQ(again.url, r.url);
  EXPECT_EQ(again.repositories, r.repositories);
  EXPECT_EQ(again.tags, r.tags);
  EXPECT_EQ(again.vetting.digests, r.vetting.digests);
  ASSERT_TRUE(again.vetting.signature);
  EXPECT_EQ(again.vetting.signature->keys.size(), 2u);
  EXPECT_EQ(again.vetting.signature->threshold, 2);
  EXPECT_TRUE(again.vetting.trust_on_first_sync);
  EXPECT_EQ(again.interval_seconds, 3600);
  EXPECT_TRUE(again.pull_through);

  // With the password asked for, the round trip keeps it.
  json whole = RuleToJson(r, true);
  EXPECT_EQ(whole.value("password", ""), "the-upstream-password");
  Rule full = Parsed(whole);
  EXPECT_EQ(full.password, "the-upstream-password");
  EXPECT_EQ(RuleToJson(full, true), whole);
}

TEST(MirrorRule, RuleWithoutCredentialsShowsNoPasswordSet) {
  json stored = RuleToJson(Parsed(Base()));
  EXPECT_FALSE(stored.contains("password_set"));
  EXPECT_FALSE(stored.contains("username"));
  EXPECT_EQ(RuleToJson(Parsed(stored)), stored);
}

TEST(MirrorRule, UpstreamHostAndNormalizeHost) {
  json j = Base();
  j["upstream"] = "https://Registry.Example:5000";
  EXPECT_EQ(UpstreamHost(Parsed(j)), "registry.example:5000");
  j["upstream"] = "http://127.0.0.1:1";
  EXPECT_EQ(UpstreamHost(Parsed(j)), "127.0.0.1:1");
  j["upstream"] = "quay.io";
  EXPECT_EQ(UpstreamHost(Parsed(j)), "quay.io");

  EXPECT_EQ(NormalizeHost("docker.io"), "docker.io");
  EXPECT_EQ(NormalizeHost("Index.Docker.IO"), "docker.io");
  EXPECT_EQ(NormalizeHost("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(NormalizeHost("GHCR.io"), "ghcr.io");
  EXPECT_EQ(NormalizeHost("127.0.0.1:1"), "127.0.0.1:1");
}

TEST(MirrorRule, ValidateRuleName) {
  const std::string longest(64, 'x');
  for (std::string_view good :
       {std::string_view("a"), std::string_view("alpine"), std::string_view("3rd-party"),
        std::string_view("a.b_c-d"), std::string_view(longest)}) {
    EXPECT_TRUE(ValidateRuleName(good)) << good;
  }
  for (const std::string& bad :
       {std::string(), std::string("-lead"), std::string(".lead"), std::string("Upper"),
        std::string("a/b"), std::string("a b"), std::string(65, 'x')}) {
    auto r = ValidateRuleName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  }
}

// The mirror's key files, in a directory of the test's own.
class MirrorKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("keep-mirror-keys-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Dir(const std::string& sub = "") const {
    auto d = sub.empty() ? dir_ : dir_ / sub;
    std::filesystem::create_directories(d);
    return d.string();
  }

  static unsigned ModeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::filesystem::path dir_;
};

TEST_F(MirrorKeys, SealedTextOpensAndIsNotThePlainText) {
  auto box = SecretBox::LoadOrCreate(Dir());
  ASSERT_TRUE(box) << box.error().message;
  EXPECT_EQ(ModeOf(Dir() + "/mirror-secrets.key"), 0600u);
  const std::string plain = "the-upstream-password";
  std::string sealed = box->Seal(plain);
  EXPECT_EQ(sealed.find(plain), std::string::npos);
  EXPECT_EQ(sealed.find(EncodeBase64(plain)), std::string::npos);
  auto opened = box->Open(sealed);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, plain);
  // A fresh nonce each time.
  EXPECT_NE(box->Seal(plain), sealed);
  // The empty text seals too.
  auto empty = box->Open(box->Seal(""));
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");

  // The key is kept: a second load opens what the first sealed.
  auto again = SecretBox::LoadOrCreate(Dir());
  ASSERT_TRUE(again) << again.error().message;
  auto reopened = again->Open(sealed);
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ(*reopened, plain);
}

TEST_F(MirrorKeys, TamperedSealedTextIsRefused) {
  auto box = SecretBox::LoadOrCreate(Dir());
  ASSERT_TRUE(box);
  std::string sealed = box->Seal("the-upstream-password");
  auto raw = DecodeBase64(sealed);
  ASSERT_TRUE(raw);
  for (std::size_t at : {std::size_t{0}, raw->size() / 2, raw->size() - 1}) {
    SCOPED_TRACE(at);
    std::string bent = *raw;
    bent[at] = static_cast<char>(bent[at] ^ 0x01);
    auto opened = box->Open(EncodeBase64(bent));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kInternal);
  }
  for (const std::string& bad : {std::string(), std::string("not base64!"),
                          EncodeBase64(raw->substr(0, 10)), sealed.substr(0, sealed.size() / 2)}) {
    auto opened = box->Open(bad);
    ASSERT_FALSE(opened) << bad;
    EXPECT_EQ(opened.error().code, ErrorCode::kInternal);
  }
}

TEST_F(MirrorKeys, TextSealedWithAnotherKeyIsRefused) {
  auto mine = SecretBox::LoadOrCreate(Dir("mine"));
  auto theirs = SecretBox::LoadOrCreate(Dir("theirs"));
  ASSERT_TRUE(mine);
  ASSERT_TRUE(theirs);
  auto opened = mine->Open(theirs->Seal("the-upstream-password"));
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kInternal);
  EXPECT_NE(opened.error().message.find("mirror-secrets.key"), std::string::npos)
      << opened.error().message;
}

TEST_F(MirrorKeys, DamagedSecretKeyFileIsRefused) {
  std::ofstream(Dir() + "/mirror-secrets.key") << "short";
  auto box = SecretBox::LoadOrCreate(Dir());
  ASSERT_FALSE(box);
  EXPECT_EQ(box.error().code, ErrorCode::kInternal);
}

TEST_F(MirrorKeys, CuratorKeyIsMadeOncePrivateAndKept) {
  std::string path = Dir() + "/curator.key";
  ASSERT_FALSE(std::filesystem::exists(path));
  auto first = Curator::LoadOrCreate(Dir());
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(first->public_key().algorithm(), kAlgorithmEd25519);

  auto second = Curator::LoadOrCreate(Dir());
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->public_key().key_id(), first->public_key().key_id());
  EXPECT_EQ(second->public_key().pem(), first->public_key().pem());

  // Another data directory, another key.
  auto other = Curator::LoadOrCreate(Dir("other"));
  ASSERT_TRUE(other);
  EXPECT_NE(other->public_key().key_id(), first->public_key().key_id());
}

TEST_F(MirrorKeys, DamagedCuratorKeyIsRefusedNotReplaced) {
  std::string path = Dir() + "/curator.key";
  std::ofstream(path) << "not a key";
  auto curator = Curator::LoadOrCreate(Dir());
  ASSERT_FALSE(curator);
  EXPECT_EQ(curator.error().code, ErrorCode::kInternal);
  EXPECT_NE(curator.error().message.find("damaged"), std::string::npos);
  std::ifstream in(path);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "not a key");
}

}  // namespace
}  // namespace keep::mirror
