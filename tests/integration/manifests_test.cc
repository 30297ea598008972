// Manifests: push, pull by tag and digest, the supported formats, deletion,
// and the pushes that must be refused without changing anything.
#include "core/digest.h"
#include "tests/support/keepd_test.h"

#include <algorithm>

namespace keep::testkit {
namespace {

using nlohmann::json;

// The manifest with its JSON edited, re-serialised (so with a new digest).
template <class Edit>
Manifest Edited(const Manifest& m, Edit edit) {
  json j = json::parse(m.bytes);
  edit(j);
  return MakeManifest(m.media_type, j);
}

class ManifestTest : public KeepdTest {
 protected:
  // GET (or HEAD) by `reference` answers this manifest, byte for byte.
  void ExpectServed(std::string_view reference, const Manifest& m) {
    SCOPED_TRACE(reference);
    Response r = client_.Get(ManifestPath(repo_, reference));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.body == m.bytes) << "served:\n" << r.body << "\npushed:\n" << m.bytes;
    EXPECT_EQ(r.Header("Content-Type"), m.media_type);
    EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest());
  }
  void ExpectUnknown(std::string_view reference) {
    SCOPED_TRACE(reference);
    EXPECT_TRUE(IsError(client_.Get(ManifestPath(repo_, reference)), 404, "MANIFEST_UNKNOWN"));
  }

  const std::string repo_ = "library/app";
};

TEST_F(ManifestTest, PutByTagAnswersTheDigestOfTheExactBytes) {
  Manifest m = PrepareImage(client_, repo_);
  Response r = PutManifest(client_, repo_, "v1", m);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest());
  EXPECT_EQ(r.Header("Location"), ManifestPath(repo_, m.digest()));
}

TEST_F(ManifestTest, GetByTagAndByDigestReturnTheExactBytes) {
  Manifest m = PushImage(client_, repo_, "v1");
  ExpectServed("v1", m);
  ExpectServed(m.digest(), m);
}

TEST_F(ManifestTest, HeadByTagAnswersTheDigest) {
  Manifest m = PushImage(client_, repo_, "v1");
  Response r = client_.Head(ManifestPath(repo_, "v1"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest());
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(m.bytes.size()));
  EXPECT_EQ(r.Header("Content-Type"), m.media_type);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(client_.Head(ManifestPath(repo_, "v2")).status, 404);
}

TEST_F(ManifestTest, DockerSchema2ManifestAndManifestList) {
  Manifest image = PushImage(client_, repo_, "image", {.docker = true});
  Manifest list = PushManifest(client_, repo_, "list", IndexOf({image}, /*docker=*/true));
  ExpectServed("image", image);
  ExpectServed("list", list);
  ExpectServed(list.digest(), list);
}

TEST_F(ManifestTest, OciIndexOfPushedManifests) {
  Manifest amd = PrepareImage(client_, repo_, {.layer = "amd64 layer"});
  Manifest arm = PrepareImage(client_, repo_, {.layer = "arm64 layer"});
  PushManifest(client_, repo_, amd.digest(), amd);
  PushManifest(client_, repo_, arm.digest(), arm);
  Manifest index = PushManifest(client_, repo_, "multi", IndexOf({amd, arm}));
  ExpectServed("multi", index);
  ExpectServed(amd.digest(), amd);
}

TEST_F(ManifestTest, ManifestWithSubjectAnswersOciSubject) {
  Manifest image = PushImage(client_, repo_, "v1");
  Manifest sbom = PrepareImage(
      client_, repo_, {.layer = "sbom", .artifact_type = "application/spdx+json", .subject = image});
  Response r = PutManifest(client_, repo_, sbom.digest(), sbom);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("OCI-Subject"), image.digest());
}

TEST_F(ManifestTest, TagMovesToTheLastManifestPushed) {
  PushImage(client_, repo_, "latest", {.layer = "first"});
  Manifest second = PushImage(client_, repo_, "latest", {.layer = "second"});
  ExpectServed("latest", second);
  EXPECT_EQ(TagsOf(client_, repo_), std::vector<std::string>{"latest"});
}

TEST_F(ManifestTest, DeleteByTagKeepsTheManifest) {
  Manifest m = PushImage(client_, repo_, "v1");
  PushManifest(client_, repo_, "v2", m);
  EXPECT_EQ(client_.Delete(ManifestPath(repo_, "v1")).status, 202);
  ExpectUnknown("v1");
  ExpectServed(m.digest(), m);
  ExpectServed("v2", m);
  EXPECT_EQ(TagsOf(client_, repo_), std::vector<std::string>{"v2"});
}

TEST_F(ManifestTest, DeleteByDigestRemovesTheManifestAndItsTags) {
  Manifest m = PushImage(client_, repo_, "v1");
  EXPECT_EQ(client_.Delete(ManifestPath(repo_, m.digest())).status, 202);
  ExpectUnknown(m.digest());
  ExpectUnknown("v1");
  EXPECT_TRUE(IsError(client_.Delete(ManifestPath(repo_, m.digest())), 404, "MANIFEST_UNKNOWN"));
}

TEST_F(ManifestTest, UnknownRepositoryAndUnknownTag) {
  EXPECT_TRUE(IsError(client_.Get(ManifestPath("never/pushed", "latest")), 404, "NAME_UNKNOWN"));
  PushImage(client_, repo_, "v1");
  ExpectUnknown("v2");
  ExpectUnknown(DigestOf("no such manifest"));
}

// Every value of a response header, in order.
std::vector<std::string> Values(const Response& r, std::string_view name) {
  std::vector<std::string> out;
  auto [begin, end] = r.headers.equal_range(name);
  for (auto it = begin; it != end; ++it) out.emplace_back(it->value());
  return out;
}

// The OCI distribution spec's digest-algorithm parameter: a push by tag
// names the algorithm the registry digests the manifest with.
TEST_F(ManifestTest, PutByTagWithDigestAlgorithmSha512) {
  Manifest m = PrepareImage(client_, repo_);
  std::string sha512 = Sha512Of(m.bytes);
  Response r = client_.Put(ManifestPath(repo_, "v1") + "?digest-algorithm=sha512", m.bytes,
                           {{"Content-Type", m.media_type}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), sha512);
  EXPECT_EQ(r.Header("Location"), ManifestPath(repo_, sha512));
  Response by_digest = client_.Get(ManifestPath(repo_, sha512));
  EXPECT_EQ(by_digest.status, 200) << by_digest.body;
  EXPECT_TRUE(by_digest.body == m.bytes);
  EXPECT_EQ(by_digest.Header("Docker-Content-Digest"), sha512);
  Response by_tag = client_.Get(ManifestPath(repo_, "v1"));
  EXPECT_TRUE(by_tag.body == m.bytes);
  EXPECT_EQ(by_tag.Header("Docker-Content-Digest"), sha512);
}

TEST_F(ManifestTest, PutByTagWithDigestAlgorithmSha256IsTheDefault) {
  Manifest m = PrepareImage(client_, repo_);
  Response r = client_.Put(ManifestPath(repo_, "v1") + "?digest-algorithm=sha256", m.bytes,
                           {{"Content-Type", m.media_type}});
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest());
}

// The spec's main branch: one push by digest sets several tags, answered
// with an OCI-Tag header for each.
TEST_F(ManifestTest, PutByDigestWithSeveralTags) {
  Manifest m = PrepareImage(client_, repo_);
  Response r = client_.Put(ManifestPath(repo_, m.digest()) + "?tag=v1&tag=latest&tag=v1.0",
                           m.bytes, {{"Content-Type", m.media_type}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Header("Docker-Content-Digest"), m.digest());
  EXPECT_EQ(r.Header("Location"), ManifestPath(repo_, m.digest()));
  std::vector<std::string> answered = Values(r, "OCI-Tag");
  std::sort(answered.begin(), answered.end());
  EXPECT_EQ(answered, (std::vector<std::string>{"latest", "v1", "v1.0"}));
  EXPECT_EQ(TagsOf(client_, repo_), (std::vector<std::string>{"latest", "v1", "v1.0"}));
  for (const char* tag : {"v1", "latest", "v1.0"}) ExpectServed(tag, m);
}

TEST_F(ManifestTest, PutByDigestWithOneTagAndWithout) {
  Manifest m = PrepareImage(client_, repo_);
  Response r = client_.Put(ManifestPath(repo_, m.digest()) + "?tag=only", m.bytes,
                           {{"Content-Type", m.media_type}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Values(r, "OCI-Tag"), std::vector<std::string>{"only"});
  r = PutManifest(client_, repo_, m.digest(), m);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_FALSE(r.HasHeader("OCI-Tag"));
  EXPECT_EQ(TagsOf(client_, repo_), std::vector<std::string>{"only"});
}

// A push the registry must refuse, as the client would send it.
struct Attempt {
  std::string reference;
  std::string content_type;
  std::string body;
};

struct RefusedPut {
  const char* name;
  // Builds the attempt in `repo`, where `base` is pushed as tag v1.
  Attempt (*build)(HttpsClient& client, const std::string& repo, const Manifest& base);
  int status;
  const char* code;
};

void PrintTo(const RefusedPut& put, std::ostream* os) { *os << put.name; }

Attempt ByTag(const Manifest& m, std::string content_type = {}) {
  return {"bad", content_type.empty() ? m.media_type : content_type, m.bytes};
}

const RefusedPut kRefusedPuts[] = {
    {"LayerNeverPushed",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       return ByTag(Edited(base, [](json& j) { j["layers"][0]["digest"] = DigestOf("missing"); }));
     },
     400, "MANIFEST_BLOB_UNKNOWN"},
    {"LayerOnlyInAnotherRepository",
     [](HttpsClient& client, const std::string&, const Manifest&) {
       return ByTag(PrepareImage(client, "other/repo", {.layer = "not linked here"}));
     },
     400, "MANIFEST_BLOB_UNKNOWN"},
    {"IndexChildNotPushed",
     [](HttpsClient& client, const std::string& repo, const Manifest& base) {
       return ByTag(IndexOf({base, PrepareImage(client, repo, {.layer = "unpushed child"})}));
     },
     400, "MANIFEST_BLOB_UNKNOWN"},
    {"ContentTypeContradictsMediaType",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       return ByTag(Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; }),
                    mt::kDockerManifest);
     },
     400, "MANIFEST_INVALID"},
    {"IndexSentAsImageManifest",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       return ByTag(IndexOf({base}), mt::kOciManifest);
     },
     400, "MANIFEST_INVALID"},
    {"InvalidJson",
     [](HttpsClient&, const std::string&, const Manifest&) {
       return Attempt{"bad", mt::kOciManifest, "{\"schemaVersion\": 2, \"mediaType\": "};
     },
     400, "MANIFEST_INVALID"},
    {"SchemaVersionOne",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       return ByTag(Edited(base, [](json& j) { j["schemaVersion"] = 1; }));
     },
     400, "MANIFEST_INVALID"},
    {"LargerThanFourMiB",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       return ByTag(Edited(base, [](json& j) {
         j["annotations"] = {{"padding", std::string(4 * 1024 * 1024, 'x')}};
       }));
     },
     413, "SIZE_INVALID"},
    {"UnknownDigestAlgorithm",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       Manifest m = Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; });
       return Attempt{"bad?digest-algorithm=md5", m.media_type, m.bytes};
     },
     400, "DIGEST_INVALID"},
    {"DigestAlgorithmContradictsTheDigest",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       Manifest m = Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; });
       return Attempt{m.digest() + "?digest-algorithm=sha512", m.media_type, m.bytes};
     },
     400, "DIGEST_INVALID"},
    {"OneBadTagAmongSeveral",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       Manifest m = Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; });
       return Attempt{m.digest() + "?tag=good&tag=-bad", m.media_type, m.bytes};
     },
     400, "MANIFEST_INVALID"},
    {"TagParametersOnAPushByTag",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       Manifest m = Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; });
       return Attempt{"bad?tag=good", m.media_type, m.bytes};
     },
     400, "MANIFEST_INVALID"},
    {"DigestDoesNotMatchBody",
     [](HttpsClient&, const std::string&, const Manifest& base) {
       Manifest m = Edited(base, [](json& j) { j["annotations"] = {{"k", "v"}}; });
       return Attempt{DigestOf("other bytes"), m.media_type, m.bytes};
     },
     400, "DIGEST_INVALID"},
};

class RefusedPutTest : public ManifestTest, public ::testing::WithParamInterface<RefusedPut> {};

TEST_P(RefusedPutTest, IsRefusedAndChangesNothing) {
  Manifest base = PushImage(client_, repo_, "v1");
  Attempt attempt = GetParam().build(client_, repo_, base);
  Response r = client_.Put(ManifestPath(repo_, attempt.reference), attempt.body,
                           {{"Content-Type", attempt.content_type}});
  EXPECT_TRUE(IsError(r, GetParam().status, GetParam().code));

  // Checked on a new connection: whether the refused one is still usable is
  // hostile_test's concern.
  client_ = keepd_.AdminClient();
  EXPECT_EQ(TagsOf(client_, repo_), std::vector<std::string>{"v1"});
  ExpectUnknown(attempt.reference.substr(0, attempt.reference.find('?')));
  ExpectUnknown(DigestOf(attempt.body));
  ExpectServed("v1", base);
}

INSTANTIATE_TEST_SUITE_P(Manifests, RefusedPutTest, ::testing::ValuesIn(kRefusedPuts),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace keep::testkit
