// keepctl's read-and-tidy commands against a real keepd: repo list, tag list
// (every page), tag delete and image show.
#include "tests/cli/keepctl_fixture.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace keep::testkit {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The size of a manifest's config and layers, from its JSON.
std::int64_t BlobBytes(const Manifest& m, std::set<std::string>& seen) {
  nlohmann::json body = nlohmann::json::parse(m.bytes);
  std::int64_t total = 0;
  std::vector<nlohmann::json> blobs = {body["config"]};
  for (const auto& layer : body["layers"]) blobs.push_back(layer);
  for (const auto& b : blobs) {
    if (seen.insert(b["digest"].get<std::string>()).second) total += b["size"].get<std::int64_t>();
  }
  return total;
}

// Pages of two names at most, so that every listing spans several.
class KeepctlImagesTest : public KeepctlServerTest {
 protected:
  KeepctlImagesTest() : KeepctlServerTest({{"limits", {{"max_page_entries", 2}}}}) {}

  void SetUp() override {
    KeepctlServerTest::SetUp();
    Ok({"namespace", "create", "acme"});
  }

  HttpsClient client_ = keepd_.AdminClient();
};

TEST_F(KeepctlImagesTest, ReposAndTagsAreListedAcrossEveryPage) {
  // "acme-x" sorts between "acme" and "acme/...": the namespace filter must
  // skip it without stopping.
  Ok({"namespace", "create", "acme-x"});
  Ok({"namespace", "create", "zeta"});
  for (const char* repo : {"acme/app", "acme/db", "acme/tools", "acme-x/app", "zeta/app"}) {
    PushImage(client_, repo, "v1", {.layer = repo});
  }
  for (const char* tag : {"v2", "v3", "v4", "latest"}) PushImage(client_, "acme/app", tag);

  EXPECT_EQ(Ok({"repo", "list"}),
            "REPOSITORY\nacme-x/app\nacme/app\nacme/db\nacme/tools\nzeta/app\n");
  EXPECT_EQ(Ok({"repo", "list", "acme"}), "REPOSITORY\nacme/app\nacme/db\nacme/tools\n");
  EXPECT_EQ(nlohmann::json::parse(Ok({"-o", "json", "repo", "list", "zeta"})),
            (nlohmann::json{{"repositories", {"zeta/app"}}}));
  EXPECT_EQ(Ok({"repo", "list", "nothing"}), "REPOSITORY\n");

  EXPECT_EQ(Ok({"tag", "list", "acme/app"}), "TAG\nlatest\nv1\nv2\nv3\nv4\n");
  EXPECT_EQ(nlohmann::json::parse(Ok({"tag", "list", "acme/db", "-o", "json"})),
            (nlohmann::json{{"name", "acme/db"}, {"tags", {"v1"}}}));

  KeepctlRun run = admin_.Run({"tag", "list", "acme/none"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "acme/none")) << run;
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"repo", "list", "Acme!"}, {"tag", "list", "acme/app:v1"},
        {"tag", "list", "Acme/App"}, {"repo", "list", "a", "b"}}) {
    run = admin_.Run(bad);
    EXPECT_EQ(run.exit_code, 2) << run;
  }
}

// A reader lists what the policy lets them pull: no quarantined image.
TEST_F(KeepctlImagesTest, AReaderListsOnlyWhatTheyMayPull) {
  Ok({"namespace", "create", "secret"});
  PushImage(client_, "acme/app", "v1");
  PushImage(client_, "secret/app", "v1");
  Ok({"user", "add", "rita", "--password-stdin"}, "a-reader-password-1234");
  Ok({"member", "add", "acme", "rita", "--role", "reader"});
  Keepctl rita;
  Login(rita, "rita", "a-reader-password-1234");
  EXPECT_EQ(rita.Run({"repo", "list"}).out, "REPOSITORY\n");  // acme/app is unsigned
  Ok({"policy", "set", "acme", "--mode", "open"});
  EXPECT_EQ(rita.Run({"repo", "list"}).out, "REPOSITORY\nacme/app\n");
  EXPECT_EQ(rita.Run({"tag", "list", "acme/app"}).out, "TAG\nv1\n");
}

TEST_F(KeepctlImagesTest, TagDeleteRemovesTheTagAndKeepsTheManifest) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  PushManifest(client_, "acme/app", "stable", m);
  EXPECT_EQ(Ok({"tag", "delete", "acme/app:v1"}),
            "Deleted the tag acme/app:v1; it named acme/app@" + m.digest() + ", which stays\n");
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"stable"});
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", m.digest()), {{"Accept", mt::kOciManifest}}).status,
            200);

  // The last tag too: the manifest stays, untagged, for garbage collection.
  nlohmann::json deleted =
      nlohmann::json::parse(Ok({"-o", "json", "tag", "delete", "acme/app:stable"}));
  EXPECT_EQ(deleted, (nlohmann::json{{"repository", "acme/app"}, {"tag", "stable"},
                                     {"digest", m.digest()}, {"deleted", true}}));
  EXPECT_EQ(client_.Get(ManifestPath("acme/app", m.digest()), {{"Accept", mt::kOciManifest}}).status,
            200);

  KeepctlRun run = admin_.Run({"tag", "delete", "acme/app:v1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "there is no tag acme/app:v1")) << run;
  run = admin_.Run({"tag", "delete", "acme/app@" + m.digest()});
  EXPECT_EQ(run.exit_code, 2) << run;
  EXPECT_TRUE(Contains(run.err, "takes REPO:TAG, not a digest")) << run;
  run = admin_.Run({"tag", "delete", "acme/app"});
  EXPECT_EQ(run.exit_code, 2) << run;

  // A reader may not.
  PushManifest(client_, "acme/app", "v2", m);
  Ok({"policy", "set", "acme", "--mode", "open"});
  Ok({"user", "add", "rita", "--password-stdin"}, "a-reader-password-1234");
  Ok({"member", "add", "acme", "rita", "--role", "reader"});
  Keepctl rita;
  Login(rita, "rita", "a-reader-password-1234");
  run = rita.Run({"tag", "delete", "acme/app:v2"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v2"});
}

TEST_F(KeepctlImagesTest, ImageShowNamesDigestSizeSignaturesAndTrust) {
  Manifest m = PushImage(client_, "acme/app", "v1", {.layer = "the only layer"});
  std::set<std::string> seen;
  const std::int64_t size = static_cast<std::int64_t>(m.bytes.size()) + BlobBytes(m, seen);

  std::string out = Ok({"image", "show", "acme/app:v1"});
  EXPECT_EQ(ValueOf(out, "image"), "acme/app@" + m.digest()) << out;
  EXPECT_EQ(ValueOf(out, "media_type"), mt::kOciManifest) << out;
  EXPECT_EQ(ValueOf(out, "size").rfind(std::to_string(size) + " bytes (", 0), 0u) << out;
  EXPECT_EQ(ValueOf(out, "layers"), "1") << out;
  EXPECT_EQ(ValueOf(out, "signatures"), "none") << out;
  EXPECT_EQ(ValueOf(out, "trusted"),
            "no (policy: quarantine, threshold 1): no trusted key signed it") << out;
  EXPECT_EQ(Ok({"image", "show", "acme/app@" + m.digest()}), out);

  // Signed by one of the two keys a threshold of 2 needs, then by both.
  Ok({"key", "generate", "--out", (admin_.dir() / "one").string()});
  Ok({"key", "generate", "--out", (admin_.dir() / "two").string()});
  Ok({"key", "add", "acme", "--name", "one", "--file", (admin_.dir() / "one.pub").string()});
  Ok({"key", "add", "acme", "--name", "two", "--file", (admin_.dir() / "two.pub").string()});
  Ok({"policy", "set", "acme", "--threshold", "2"});
  Ok({"sign", "acme/app:v1", "--key", (admin_.dir() / "one.key").string()});
  out = Ok({"image", "show", "acme/app:v1"});
  EXPECT_TRUE(Contains(out, "signatures:\n  KEY_ID")) << out;
  EXPECT_TRUE(Contains(out, "  one       cosign  ")) << out;
  EXPECT_EQ(ValueOf(out, "trusted"),
            "no (policy: quarantine, threshold 2): signed by 1 trusted key(s) of the 2 needed")
      << out;
  Ok({"sign", "acme/app:v1", "--key", (admin_.dir() / "two.key").string()});
  out = Ok({"image", "show", "acme/app:v1"});
  EXPECT_EQ(ValueOf(out, "trusted"), "yes (policy: quarantine, threshold 2)") << out;

  nlohmann::json shown = nlohmann::json::parse(Ok({"-o", "json", "image", "show", "acme/app:v1"}));
  EXPECT_EQ(shown["digest"], m.digest()) << shown;
  EXPECT_EQ(shown["size"], size) << shown;
  EXPECT_EQ(shown["verification"]["trusted"], true) << shown;
  EXPECT_EQ(shown["verification"]["signatures"].size(), 2u) << shown;
  EXPECT_FALSE(shown.contains("platforms")) << shown;

  KeepctlRun run = admin_.Run({"image", "show", "acme/app:v9"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "there is no manifest acme/app:v9")) << run;
}

TEST_F(KeepctlImagesTest, ImageShowListsThePlatformsOfAnIndex) {
  // Two platforms sharing their config and layer: those count once.
  Manifest amd = PrepareImage(client_, "acme/app", {.layer = "shared layer"});
  Manifest arm = PrepareImage(client_, "acme/app",
                              {.layer = "shared layer", .annotations = {{"arch", "arm64"}}});
  PushManifest(client_, "acme/app", amd.digest(), amd);
  PushManifest(client_, "acme/app", arm.digest(), arm);
  nlohmann::json body = nlohmann::json::parse(IndexOf({amd, arm}).bytes);
  body["manifests"][1]["platform"] = {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}};
  Manifest index = PushManifest(client_, "acme/app", "multi", MakeManifest(mt::kOciIndex, body));
  std::set<std::string> seen;
  const std::int64_t size = static_cast<std::int64_t>(index.bytes.size() + amd.bytes.size() +
                                                      arm.bytes.size()) +
                            BlobBytes(amd, seen) + BlobBytes(arm, seen);

  std::string out = Ok({"image", "show", "acme/app:multi"});
  EXPECT_EQ(ValueOf(out, "image"), "acme/app@" + index.digest()) << out;
  EXPECT_EQ(ValueOf(out, "media_type"), mt::kOciIndex) << out;
  EXPECT_EQ(ValueOf(out, "size").rfind(std::to_string(size) + " bytes (", 0), 0u) << out;
  EXPECT_TRUE(Contains(out, "platforms:\n  PLATFORM        DIGEST")) << out;
  EXPECT_TRUE(Contains(out, "\n  linux/arm64/v8  " + arm.digest() + "  " +
                                std::to_string(arm.bytes.size()) + "\n"))
      << out;
  EXPECT_TRUE(Contains(out, "\n  linux/amd64     " + amd.digest())) << out;

  nlohmann::json shown =
      nlohmann::json::parse(Ok({"-o", "json", "image", "show", "acme/app@" + index.digest()}));
  EXPECT_EQ(shown["size"], size) << shown;
  ASSERT_EQ(shown["platforms"].size(), 2u) << shown;
  EXPECT_EQ(shown["platforms"][0]["platform"], "linux/amd64");
  EXPECT_EQ(shown["platforms"][0]["digest"], amd.digest());
  EXPECT_EQ(shown["platforms"][1]["platform"], "linux/arm64/v8");
  EXPECT_EQ(shown["platforms"][1]["size"], arm.bytes.size());
  EXPECT_EQ(shown["untrusted_because"], "no trusted key signed it") << shown;
}

// Wherever keepctl takes an image, it reads it as docker writes it; a host
// must be the server keepctl is logged in to.
TEST_F(KeepctlImagesTest, ReferencesAreReadAsDockerWritesThem) {
  Manifest m = PushImage(client_, "acme/app", "v1");
  const std::string host = "127.0.0.1:" + std::to_string(keepd_.port());
  const std::string image = "acme/app@" + m.digest();
  for (const std::string& ref :
       {"docker://" + host + "/acme/app:v1", host + "/" + image, "acme/app:v1@" + m.digest(),
        std::string("docker://acme/app:v1")}) {
    SCOPED_TRACE(ref);
    EXPECT_EQ(ValueOf(Ok({"image", "show", ref}), "image"), image);
  }
  EXPECT_EQ(Ok({"tag", "list", "docker://" + host + "/acme/app"}), "TAG\nv1\n");
  KeepctlRun run = admin_.Run({"verify", host + "/acme/app:v1"});
  EXPECT_EQ(run.exit_code, 1) << run;  // unsigned, and found
  EXPECT_TRUE(Contains(run.out, "image: " + image)) << run;

  // Another registry, Docker Hub, and a tag that names another digest: refused.
  run = admin_.Run({"image", "show", "127.0.0.1:1/acme/app:v1"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "keepctl: \"127.0.0.1:1/acme/app:v1\" names the registry "
                                "127.0.0.1:1, not " + host + " where keepctl is logged in"))
      << run;
  run = admin_.Run({"sign", "docker.io/library/alpine:3", "--key", "unused.key"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "names Docker Hub; keepctl talks to one Keep server, " + host))
      << run;
  run = admin_.Run({"tag", "delete", "acme/app:v1@sha256:" + std::string(64, 'b')});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_TRUE(Contains(run.err, "the tag acme/app:v1 names " + m.digest())) << run;
  EXPECT_EQ(TagsOf(client_, "acme/app"), std::vector<std::string>{"v1"});
  EXPECT_TRUE(Contains(Ok({"tag", "delete", "acme/app:v1@" + m.digest()}), "Deleted the tag"));
  EXPECT_EQ(admin_.Run({"image", "show", "acme/app"}).exit_code, 2);
}

}  // namespace
}  // namespace keep::testkit
