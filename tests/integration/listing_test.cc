// Listings: tags/list and _catalog with pagination, and the referrers API.
#include "tests/support/keepd_test.h"

#include <boost/url/parse.hpp>

#include <map>

namespace keep::testkit {
namespace {

using nlohmann::json;
using Names = std::vector<std::string>;

struct Page {
  Names items;
  std::string link;  // the Link header, "" when there is none
};

// The target inside "<...>; rel="next"", or "" when the header is not that.
std::string NextTarget(const std::string& link) {
  auto open = link.find('<'), close = link.find('>');
  if (open != 0 || close == std::string::npos || link.find("rel=\"next\"", close) == std::string::npos) {
    return {};
  }
  return link.substr(1, close - 1);
}

// The path and the percent-decoded query of a target.
std::pair<std::string, std::map<std::string, std::string>> Split(const std::string& target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return {};
  std::map<std::string, std::string> query;
  for (auto param : url->params()) query[param.key] = param.value;
  return {std::string(url->path()), query};
}

class ListingTest : public KeepdTest {
 protected:
  using KeepdTest::KeepdTest;

  // Follows Link headers from `target`, collecting `key` of each page.
  std::vector<Page> Walk(std::string target, const char* key) {
    std::vector<Page> pages;
    for (int guard = 0; guard < 20 && !target.empty(); ++guard) {
      Response r = client_.Get(target);
      EXPECT_EQ(r.status, 200) << target << ": " << r.body;
      json items = r.Json().value(key, json::array());
      pages.push_back({items.is_array() ? items.get<Names>() : Names{}, r.Header("Link")});
      target = NextTarget(pages.back().link);
      if (!pages.back().link.empty()) {
        EXPECT_FALSE(target.empty()) << "not a next link: " << pages.back().link;
      }
    }
    return pages;
  }

  void PushTags(const std::string& repo, const Names& tags) {
    Manifest m = PushImage(client_, repo, tags.front());
    for (const std::string& tag : tags) PushManifest(client_, repo, tag, m);
  }
};

TEST_F(ListingTest, TagsAreSortedLexically) {
  PushTags("library/app", {"v2", "latest", "v10", "Beta", "v1", "1.0"});
  Response r = client_.Get(TagsPath("library/app"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["name"], "library/app");
  EXPECT_EQ(r.Json()["tags"], json({"1.0", "Beta", "latest", "v1", "v10", "v2"}));
  EXPECT_FALSE(r.HasHeader("Link"));
}

TEST_F(ListingTest, TagsArePaginatedWithLinks) {
  PushTags("library/app", {"v2", "latest", "v10", "beta", "v1"});
  auto pages = Walk(TagsPath("library/app") + "?n=2", "tags");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].items, (Names{"beta", "latest"}));
  EXPECT_EQ(pages[0].link, "</v2/library/app/tags/list?n=2&last=latest>; rel=\"next\"");
  EXPECT_EQ(pages[1].items, (Names{"v1", "v10"}));
  EXPECT_EQ(pages[1].link, "</v2/library/app/tags/list?n=2&last=v10>; rel=\"next\"");
  EXPECT_EQ(pages[2].items, (Names{"v2"}));
  EXPECT_EQ(pages[2].link, "");
}

TEST_F(ListingTest, NoLinkWhenTheLastPageIsFull) {
  PushTags("library/app", {"a", "b", "c", "d"});
  auto pages = Walk(TagsPath("library/app") + "?n=2", "tags");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[1].items, (Names{"c", "d"}));
  EXPECT_EQ(pages[1].link, "");
}

TEST_F(ListingTest, LastStartsAfterTheGivenTag) {
  PushTags("library/app", {"a", "b", "c", "d"});
  EXPECT_EQ(client_.Get(TagsPath("library/app") + "?last=b").Json()["tags"], json({"c", "d"}));
  EXPECT_EQ(client_.Get(TagsPath("library/app") + "?n=1&last=a").Json()["tags"], json({"b"}));
}

TEST_F(ListingTest, TagsOfAnUnknownRepository) {
  EXPECT_TRUE(IsError(client_.Get(TagsPath("never/pushed")), 404, "NAME_UNKNOWN"));
}

TEST_F(ListingTest, CatalogIsSortedAndPaginated) {
  for (const char* repo : {"zeta/app", "alpha", "mid/x", "alpha/sub", "beta"}) {
    PushImage(client_, repo, "v1");
  }
  Response all = client_.Get("/v2/_catalog");
  EXPECT_EQ(all.Json()["repositories"], json({"alpha", "alpha/sub", "beta", "mid/x", "zeta/app"}));

  auto pages = Walk("/v2/_catalog?n=2", "repositories");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].items, (Names{"alpha", "alpha/sub"}));
  EXPECT_EQ(pages[1].items, (Names{"beta", "mid/x"}));
  EXPECT_EQ(pages[2].items, (Names{"zeta/app"}));
  EXPECT_EQ(pages[2].link, "");
  auto [path, query] = Split(NextTarget(pages[0].link));
  EXPECT_EQ(path, "/v2/_catalog");
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"last", "alpha/sub"}, {"n", "2"}}));
}

// The largest n a client can send: n + 1 (the probe for a next page) must
// not overflow, and a page never holds more than limits.max_page_entries.
TEST_F(ListingTest, HugeNListsEveryTag) {
  PushTags("library/app", {"a", "b", "c"});
  for (const char* n : {"2147483647", "2147483646"}) {
    SCOPED_TRACE(n);
    Response r = client_.Get(TagsPath("library/app") + "?n=" + n);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Json()["tags"], json({"a", "b", "c"}));
    EXPECT_FALSE(r.HasHeader("Link"));
  }
  // Past int, n is refused rather than wrapped.
  EXPECT_TRUE(IsError(client_.Get(TagsPath("library/app") + "?n=2147483648"), 400,
                      "SIZE_INVALID"));
}

class PageLimitTest : public ListingTest {
 protected:
  PageLimitTest() : ListingTest({{"limits", {{"max_page_entries", 2}}}}) {}
};

TEST_F(PageLimitTest, HugeNOnTheCatalogIsOnePageOfTheLimit) {
  for (const char* repo : {"alpha", "beta", "gamma"}) PushImage(client_, repo, "v1");
  Response r = client_.Get("/v2/_catalog?n=2147483647");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["repositories"], json({"alpha", "beta"}));
  EXPECT_EQ(r.Header("Link"), "</v2/_catalog?n=2&last=beta>; rel=\"next\"");
  auto pages = Walk("/v2/_catalog?n=2147483647", "repositories");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[1].items, (Names{"gamma"}));
}

TEST_F(PageLimitTest, HugeNOnTagsIsOnePageOfTheLimit) {
  PushTags("library/app", {"a", "b", "c", "d", "e"});
  auto pages = Walk(TagsPath("library/app") + "?n=2147483647", "tags");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(pages[0].items, (Names{"a", "b"}));
  EXPECT_EQ(pages[0].link, "</v2/library/app/tags/list?n=2&last=b>; rel=\"next\"");
  EXPECT_EQ(pages[2].items, (Names{"e"}));
  // A small n is kept as it is; without n everything is listed, as before.
  EXPECT_EQ(client_.Get(TagsPath("library/app") + "?n=1").Json()["tags"], json({"a"}));
  EXPECT_EQ(client_.Get(TagsPath("library/app")).Json()["tags"].size(), 5u);
}

class ReferrersTest : public ListingTest {
 protected:
  void SetUp() override {
    image_ = PushImage(client_, repo_, "v1");
    PushImage(client_, repo_, "unrelated", {.layer = "unrelated"});
  }
  Manifest PushReferrer(const std::string& artifact_type, const std::string& layer,
                        json annotations = nullptr) {
    ImageSpec spec{.layer = layer, .artifact_type = artifact_type, .subject = image_,
                   .annotations = std::move(annotations)};
    Manifest m = PrepareImage(client_, repo_, spec);
    return PushManifest(client_, repo_, m.digest(), m);
  }
  // The descriptors listed for the image, by digest.
  std::map<std::string, json> Listed(const Response& r) {
    std::map<std::string, json> by_digest;
    for (const json& d : r.Json().value("manifests", json::array())) by_digest[d["digest"]] = d;
    return by_digest;
  }

  const std::string repo_ = "library/app";
  const std::string sbom_type_ = "application/spdx+json";
  const std::string sig_type_ = "application/vnd.dev.cosign.artifact.sig.v1+json";
  Manifest image_;
};

TEST_F(ReferrersTest, ListsTheArtifactsOfTheSubject) {
  Manifest sbom = PushReferrer(sbom_type_, "sbom", {{"org.example.kind", "sbom"}});
  Manifest sig = PushReferrer(sig_type_, "signature");
  Response r = client_.Get(ReferrersPath(repo_, image_.digest()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), mt::kOciIndex);
  EXPECT_EQ(r.Json()["schemaVersion"], 2);
  EXPECT_EQ(r.Json()["mediaType"], mt::kOciIndex);
  auto listed = Listed(r);
  ASSERT_EQ(listed.size(), 2u) << r.body;
  json expected_sbom = sbom.Descriptor();
  expected_sbom["artifactType"] = sbom_type_;
  expected_sbom["annotations"] = {{"org.example.kind", "sbom"}};
  EXPECT_EQ(listed[sbom.digest()], expected_sbom);
  json expected_sig = sig.Descriptor();
  expected_sig["artifactType"] = sig_type_;
  EXPECT_EQ(listed[sig.digest()], expected_sig);
  EXPECT_FALSE(r.HasHeader("OCI-Filters-Applied"));
}

TEST_F(ReferrersTest, ArtifactTypeFilter) {
  Manifest sbom = PushReferrer(sbom_type_, "sbom");
  PushReferrer(sig_type_, "signature");
  Response r = client_.Get(ReferrersPath(repo_, image_.digest()) + "?artifactType=" + sbom_type_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("OCI-Filters-Applied"), "artifactType");
  auto listed = Listed(r);
  ASSERT_EQ(listed.size(), 1u) << r.body;
  EXPECT_TRUE(listed.contains(sbom.digest()));
}

TEST_F(ReferrersTest, NoReferrersIsAnEmptyIndex) {
  Response r = client_.Get(ReferrersPath(repo_, image_.digest()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Type"), mt::kOciIndex);
  EXPECT_EQ(r.Json()["manifests"], json::array());
}

TEST_F(ReferrersTest, ArtifactTypeDefaultsToTheConfigMediaType) {
  const std::string config_type = "application/vnd.example.config.v1+json";
  Manifest m = PrepareImage(client_, repo_,
                            {.layer = "attestation", .config_media_type = config_type,
                             .subject = image_});
  PushManifest(client_, repo_, m.digest(), m);
  auto listed = Listed(client_.Get(ReferrersPath(repo_, image_.digest())));
  ASSERT_TRUE(listed.contains(m.digest()));
  EXPECT_EQ(listed[m.digest()]["artifactType"], config_type);
}

TEST_F(ReferrersTest, ReferrerMayBePushedBeforeItsSubject) {
  Manifest later = PrepareImage(client_, repo_, {.layer = "pushed later"});
  Manifest sig = PrepareImage(client_, repo_,
                              {.layer = "early signature", .artifact_type = sig_type_,
                               .subject = later});
  PushManifest(client_, repo_, sig.digest(), sig);
  auto listed = Listed(client_.Get(ReferrersPath(repo_, later.digest())));
  EXPECT_TRUE(listed.contains(sig.digest()));
}

TEST_F(ReferrersTest, DeletedReferrerIsNoLongerListed) {
  Manifest sbom = PushReferrer(sbom_type_, "sbom");
  Manifest sig = PushReferrer(sig_type_, "signature");
  ASSERT_EQ(client_.Delete(ManifestPath(repo_, sbom.digest())).status, 202);
  auto listed = Listed(client_.Get(ReferrersPath(repo_, image_.digest())));
  EXPECT_FALSE(listed.contains(sbom.digest()));
  EXPECT_TRUE(listed.contains(sig.digest()));
}

}  // namespace
}  // namespace keep::testkit
