#include "trust/trust.h"

#include "trust_testdata.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

using trust_test::Data;

Digest D(std::string_view s) { return Digest::Parse(s).value(); }

const char kDigest[] = "sha256:4ca7dd51e12817f0c9a67e24332ca53cc58f6ecb458e2bc8bc2e96f0c2f9f82d";

// A payload whose critical section is `critical` (raw JSON).
std::string WithCritical(const std::string& critical) {
  return R"({"critical":)" + critical + R"(,"optional":null})";
}

std::string Critical(const std::string& type, const std::string& digest, const std::string& ref) {
  return R"({"identity":{"docker-reference":)" + ref + R"(},"image":{"docker-manifest-digest":)" +
         digest + R"(},"type":)" + type + "}";
}

const std::string kType = R"("cosign container image signature")";
const std::string kDigestJson = std::string("\"") + kDigest + "\"";
const std::string kRef = R"("acme/app")";

TEST(TrustPayload, ParsesCosignPayload) {
  auto p = ParseSimpleSigning(Data("payload.json"));
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->type, "cosign container image signature");
  EXPECT_EQ(p->manifest_digest, D(trust_test::kTarget));
  EXPECT_EQ(p->docker_reference, "registry.example:5000/acme/app");
  EXPECT_TRUE(p->optional.is_null());
}

TEST(TrustPayload, MakeIsByteForByteCosigns) {
  EXPECT_EQ(MakeSimpleSigning("registry.example:5000/acme/app", D(trust_test::kTarget)),
            Data("payload.json"));
  auto round = ParseSimpleSigning(MakeSimpleSigning("acme/app:v1", D(kDigest)));
  ASSERT_TRUE(round);
  EXPECT_EQ(round->docker_reference, "acme/app:v1");
  EXPECT_EQ(round->manifest_digest, D(kDigest));
}

TEST(TrustPayload, ParsesPodmanAndAtomicPayloads) {
  // containers/image writes the members in another order and fills `optional`.
  std::string podman = std::string(R"({"critical":{"type":"cosign container image signature",)") +
                       R"("image":{"docker-manifest-digest":")" + kDigest +
                       R"("},"identity":{"docker-reference":"registry.example/acme/app:v1"}},)" +
                       R"("optional":{"creator":"containers/image 5.24","timestamp":1700000000}})";
  auto p = ParseSimpleSigning(podman);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->optional["creator"], "containers/image 5.24");
  EXPECT_EQ(p->optional["timestamp"], 1700000000);

  auto atomic = ParseSimpleSigning(
      WithCritical(Critical(R"("atomic container signature")", kDigestJson, kRef)));
  ASSERT_TRUE(atomic) << atomic.error().message;
  EXPECT_EQ(atomic->type, "atomic container signature");
  // `optional` may be left out.
  EXPECT_TRUE(ParseSimpleSigning(R"({"critical":)" + Critical(kType, kDigestJson, kRef) + "}"));
}

TEST(TrustPayload, RefusesMalformedPayloads) {
  struct Case {
    std::string payload;
    std::string needle;
  };
  const std::string good = Critical(kType, kDigestJson, kRef);
  const Case cases[] = {
      {"", "not valid JSON"},
      {"{", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"optional":null})", "missing critical"},
      {R"({"critical":"x","optional":null})", "critical must be an object"},
      {WithCritical(R"({"image":{"docker-manifest-digest":")" + std::string(kDigest) +
                    R"("},"identity":{"docker-reference":"acme/app"}})"),
       "missing critical.type"},
      {WithCritical(Critical("7", kDigestJson, kRef)), "critical.type must be a string"},
      {WithCritical(R"({"type":)" + kType + R"(,"identity":{"docker-reference":"acme/app"}})"),
       "missing critical.image"},
      {WithCritical(Critical(kType, "12", kRef)),
       "critical.image.docker-manifest-digest must be a string"},
      {WithCritical(Critical(kType, R"("sha256:abc")", kRef)),
       "critical.image.docker-manifest-digest: "},
      {WithCritical(R"({"type":)" + kType + R"(,"image":{"docker-manifest-digest":)" +
                    kDigestJson + "}}"),
       "missing critical.identity"},
      {WithCritical(Critical(kType, kDigestJson, "null")),
       "critical.identity.docker-reference must be a string"},
      {WithCritical(good.substr(0, good.size() - 1) + R"(,"extra":1})"),
       "critical has an unexpected member \"extra\""},
      {WithCritical(R"({"identity":{"docker-reference":"acme/app"},"image":{"Docker-manifest-digest":)" +
                    kDigestJson + R"(},"type":)" + kType + "}"),
       "critical.image has an unexpected member \"Docker-manifest-digest\""},
      {R"({"critical":)" + good + R"(,"optional":null,"more":{}})",
       "top level has an unexpected member \"more\""},
      {R"({"critical":)" + good + R"(,"optional":"x"})", "optional must be an object or null"},
      {R"({"critical":)" + good + R"(,"critical":)" + good + R"(,"optional":null})",
       "repeats a member name"},
      {R"({"critical":)" + good + R"(,"optional":{"a":1,"a":2}})", "repeats a member name"},
  };
  for (const Case& c : cases) {
    auto p = ParseSimpleSigning(c.payload);
    ASSERT_FALSE(p) << c.payload;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalid) << c.payload;
    EXPECT_NE(p.error().message.find(c.needle), std::string::npos)
        << c.payload << "\n  message: " << p.error().message << "\n  wanted: " << c.needle;
  }
}

TEST(TrustPayload, ReferenceNamesRepository) {
  const std::string digest_ref = std::string("localhost/acme/app@") + kDigest;
  for (std::string ref : {std::string("acme/app"), std::string("acme/app:v1"),
                          std::string("registry.example:5000/acme/app"),
                          std::string("registry.example:5000/acme/app:v1.2_x-y"),
                          std::string("localhost:5000/acme/app"), digest_ref,
                          std::string("acme/app:v1@") + kDigest,
                          std::string("index.docker.io/acme/app")}) {
    EXPECT_TRUE(ReferenceNamesRepository(ref, "acme/app")) << ref;
  }
  for (std::string ref : {"acme/app2", "acme/ap", "other/acme/app", "acme/app/sub", "app",
                          "acme/app:", "acme/app:bad tag", "acme/app@sha256:abc",
                          "registry.example/other/acme/app", "ACME/app", "", "/acme/app"}) {
    EXPECT_FALSE(ReferenceNamesRepository(ref, "acme/app")) << ref;
  }
  EXPECT_FALSE(ReferenceNamesRepository("acme/app", ""));
  // A repository whose first component has a dot matches itself without a host.
  EXPECT_TRUE(ReferenceNamesRepository("acme.io/app:v1", "acme.io/app"));
  EXPECT_TRUE(ReferenceNamesRepository("registry.example/acme.io/app", "acme.io/app"));
}

TEST(TrustPayload, CheckPayloadPasses) {
  auto p = ParseSimpleSigning(Data("payload.json"));
  ASSERT_TRUE(p);
  EXPECT_TRUE(CheckPayload(*p, D(trust_test::kTarget), "acme/app"));
}

TEST(TrustPayload, CheckPayloadSaysWhichCheckFailed) {
  auto expect_denied = [](const SimpleSigning& p, std::string_view target, std::string_view repo,
                          std::string_view needle) {
    auto r = CheckPayload(p, D(target), repo);
    ASSERT_FALSE(r) << needle;
    EXPECT_EQ(r.error().code, ErrorCode::kDenied);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  const std::string other = "sha256:" + std::string(64, 'a');
  SimpleSigning p{"cosign container image signature", D(kDigest), "acme/app:v1", nullptr};

  expect_denied(p, other, "acme/app", "signature is for manifest " + std::string(kDigest) +
                                          ", not " + other);
  expect_denied(p, kDigest, "acme/app2", "not for repository acme/app2");
  expect_denied(p, kDigest, "other/acme/app", "\"acme/app:v1\", not for repository");

  SimpleSigning wrong_type = p;
  wrong_type.type = "cosign container image signature ";
  expect_denied(wrong_type, kDigest, "acme/app", "is not a container image signature");
  wrong_type.type = "";
  expect_denied(wrong_type, kDigest, "acme/app", "payload type \"\"");
}

}  // namespace
}  // namespace keep
