// tests/integration/attacks/attack_fixture.h — the attackers of Keep's trust
// promise, as accounts of a real keepd (TrustTest's "acme", its reader
// alice and the admin who publishes):
// - mallory, a publisher of acme with no signing key: may push, may not sign;
// - eve, a reader of acme who is a publisher of a namespace of her own, "eve".
// Each file in this folder is one class of attack; each test states what an
// attacker tries and what a reader of acme must (not) get.
#pragma once

#include "tests/integration/trust_fixture.h"

#include <algorithm>

namespace keep::testkit {

class AttackTest : public TrustTest {
 protected:
  void SetUp() override {
    TrustTest::SetUp();
    ASSERT_NO_FATAL_FAILURE(AddUser("mallory", "acme", "publisher"));
    ASSERT_NO_FATAL_FAILURE(AddUser("eve", "acme", "reader"));
    ASSERT_EQ(client_.Post("/admin/v1/namespaces", R"({"name":"eve"})").status, 201);
    ASSERT_EQ(client_.Put("/admin/v1/namespaces/eve/members/eve", R"({"role":"publisher"})").status,
              200);
    mallory_.SetBasicAuth("mallory", "password-of-mallory");
    eve_.SetBasicAuth("eve", "password-of-eve");
  }

  void AddUser(const std::string& name, const std::string& ns, const std::string& role) {
    ASSERT_EQ(client_.Post("/admin/v1/users", json{{"name", name},
                                                   {"password", "password-of-" + name}}.dump())
                  .status,
              201);
    ASSERT_EQ(client_.Put("/admin/v1/namespaces/" + ns + "/members/" + name,
                          json{{"role", role}}.dump())
                  .status,
              200);
  }

  // Everything a reader could fetch of `m` in `repo`: by tag (when given) and
  // by digest, its bytes as a blob, and its config and layers. Each must be
  // refused (403 DENIED) for a quarantined image.
  void ExpectWithheld(HttpsClient& reader, const std::string& repo, const Manifest& m,
                      const std::string& tag = "") {
    if (!tag.empty()) {
      EXPECT_EQ(StatusAndCode(reader.Get(ManifestPath(repo, tag), {{"Accept", m.media_type}})),
                "403 DENIED") << tag;
    }
    EXPECT_EQ(StatusAndCode(reader.Get(ManifestPath(repo, m.digest()), {{"Accept", m.media_type}})),
              "403 DENIED");
    EXPECT_EQ(StatusAndCode(reader.Get(BlobPath(repo, m.digest()))), "403 DENIED");
    json body = json::parse(m.bytes);
    std::vector<std::string> blobs;
    if (body.contains("config")) blobs.push_back(body["config"]["digest"]);
    for (const auto& l : body.value("layers", json::array())) blobs.push_back(l["digest"]);
    for (const auto& d : blobs) {
      EXPECT_EQ(StatusAndCode(reader.Get(BlobPath(repo, d))), "403 DENIED") << d;
    }
    json tags = reader.Get(TagsPath(repo)).Json().value("tags", json::array());
    if (!tag.empty()) {
      EXPECT_EQ(std::count(tags.begin(), tags.end(), tag), 0) << tags.dump();
    }
  }

  HttpsClient mallory_ = keepd_.AnonymousClient();
  HttpsClient eve_ = keepd_.AnonymousClient();
};

}  // namespace keep::testkit
