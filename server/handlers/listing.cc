// Listings: tags (GET /v2/<name>/tags/list), the catalog (GET /v2/_catalog)
// and referrers (GET /v2/<name>/referrers/<digest>).
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"

#include <algorithm>
#include <charconv>
#include <climits>

#include <nlohmann/json.hpp>

namespace keep::server::handlers {
namespace {

using nlohmann::json;

// At most INT_MAX - 1, so that FetchPage's limit + 1 cannot overflow.
struct Page {
  int limit = INT_MAX - 1;  // no n: everything
  bool paginated = false;
  std::string last;
};

// n is clamped to limits.max_page_entries before any arithmetic: a client
// asking for more gets that many and a Link header to the rest (the spec
// lets a registry answer fewer than n when it says where the rest is).
Result<Page> ReadPage(Exchange& ex) {
  Page p;
  if (auto n = ex.query("n")) {
    int v = 0;
    auto [ptr, ec] = std::from_chars(n->data(), n->data() + n->size(), v);
    if (ec != std::errc() || ptr != n->data() + n->size() || v < 0) {
      return Fail(ErrorCode::kSizeInvalid, "the n parameter must be a non-negative integer");
    }
    p.limit = std::min({v, ex.services().config.max_page_entries, INT_MAX - 1});
    p.paginated = true;
  }
  if (auto last = ex.query("last")) p.last = *last;
  return p;
}

// Fetches one more than asked to know whether a next page exists.
template <class Fetch>
Result<std::pair<std::vector<std::string>, bool>> FetchPage(const Page& p, Fetch&& fetch) {
  auto items = fetch(p.last, p.limit + 1);
  if (!items) return items.error();
  bool more = items->size() > static_cast<std::size_t>(p.limit);
  if (more) items->resize(static_cast<std::size_t>(p.limit));
  return std::make_pair(std::move(*items), more);
}

// {"<key>":[...names...]}: tags and repository names never need JSON escaping
// (their grammars allow no quote, backslash or control character), so the
// list is written directly; it is the hot part of a 10,000-tag listing.
void AppendNames(std::string& out, const std::vector<std::string>& names) {
  out += '[';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += names[i];
    out += '"';
  }
  out += ']';
}

void SetNextLink(Reply& r, const std::string& path, const Page& p, const std::string& last) {
  r.headers.set(http::field::link, "<" + path + "?n=" + std::to_string(p.limit) + "&last=" +
                                       last + ">; rel=\"next\"");
}

}  // namespace

Awaitable<Result<Reply>> ListTags(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  auto page = ReadPage(ex);
  if (!page) co_return page.error();
  auto exists = svc.metadata.RepoExists(repo);
  if (!exists) co_return exists.error();
  if (!*exists) co_return Fail(ErrorCode::kNameUnknown, "repository " + repo + " is not known to this registry");
  // Readers see only the tags of trusted manifests.
  auto threshold = TrustedViewThreshold(svc, ex.who, repo);
  if (!threshold) co_return threshold.error();
  std::optional<std::vector<std::string>> trusted;
  if (*threshold) {
    auto t = svc.metadata.TrustedTags(repo, **threshold);
    if (!t) co_return t.error();
    trusted = std::move(*t);
  }
  auto result = FetchPage(*page, [&](const std::string& after,
                                     int limit) -> Result<std::vector<std::string>> {
    if (!trusted) return svc.metadata.ListTags(repo, after, limit);
    auto it = std::upper_bound(trusted->begin(), trusted->end(), after);
    auto n = std::min<std::size_t>(static_cast<std::size_t>(std::max(limit, 0)),
                                   static_cast<std::size_t>(trusted->end() - it));
    return std::vector<std::string>(it, it + static_cast<std::ptrdiff_t>(n));
  });
  if (!result) co_return result.error();
  auto& [tags, more] = *result;
  std::string body = "{\"name\":\"" + repo + "\",\"tags\":";
  body.reserve(body.size() + tags.size() * 16 + 2);
  AppendNames(body, tags);
  body += '}';
  Reply r = Reply::Json(http::status::ok, std::move(body));
  if (more && !tags.empty()) SetNextLink(r, "/v2/" + repo + "/tags/list", *page, tags.back());
  co_return r;
}

Awaitable<Result<Reply>> Catalog(Exchange& ex) {
  const auto& svc = ex.services();
  auto page = ReadPage(ex);
  if (!page) co_return page.error();
  // Only the repositories the caller may pull.
  auto namespaces = PullableNamespaces(svc.metadata, ex.who);
  if (!namespaces) co_return namespaces.error();
  // Of those, readers see only repositories that hold something they may
  // be served (trust_gate.h): a quarantined push is no one's to discover.
  auto result = FetchPage(*page, [&](const std::string& from,
                                     int limit) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    for (std::string after = from; out.size() < static_cast<std::size_t>(limit);) {
      auto repos = svc.metadata.ListRepos(after, std::min(limit, 500), *namespaces);
      if (!repos) return repos.error();
      for (auto& repo : *repos) {
        auto servable = HasServableContent(svc, ex.who, repo);
        if (!servable) return servable.error();
        if (*servable && out.size() < static_cast<std::size_t>(limit)) out.push_back(repo);
      }
      if (repos->size() < static_cast<std::size_t>(std::min(limit, 500))) break;
      after = repos->back();
    }
    return out;
  });
  if (!result) co_return result.error();
  auto& [repos, more] = *result;
  std::string body = "{\"repositories\":";
  AppendNames(body, repos);
  body += '}';
  Reply r = Reply::Json(http::status::ok, std::move(body));
  if (more && !repos.empty()) SetNextLink(r, "/v2/_catalog", *page, repos.back());
  co_return r;
}

Awaitable<Result<Reply>> Referrers(Exchange& ex) {
  const auto& svc = ex.services();
  auto subject = Digest::Parse(ex.params.reference);
  if (!subject) co_return subject.error();
  auto filter = ex.query("artifactType");
  auto found = svc.metadata.Referrers(ex.params.name, subject->str());
  if (!found) co_return found.error();
  // Readers see only referrers they may fetch: trusted ones (signatures, and
  // artifacts signed in turn), as with tags.
  auto threshold = TrustedViewThreshold(svc, ex.who, ex.params.name);
  if (!threshold) co_return threshold.error();
  std::optional<std::vector<std::string>> trusted;  // sorted
  if (*threshold) {
    auto t = svc.metadata.TrustedReferrers(ex.params.name, subject->str(), **threshold);
    if (!t) co_return t.error();
    trusted = std::move(*t);
  }
  json manifests = json::array();
  for (const auto& m : *found) {
    if (filter && m.artifact_type != *filter) continue;
    if (trusted && !std::binary_search(trusted->begin(), trusted->end(), m.digest)) continue;
    json d = {{"mediaType", m.media_type}, {"digest", m.digest}, {"size", m.size}};
    if (!m.artifact_type.empty()) d["artifactType"] = m.artifact_type;
    json ann = json::parse(m.annotations_json, nullptr, false);
    if (ann.is_object() && !ann.empty()) d["annotations"] = std::move(ann);
    manifests.push_back(std::move(d));
  }
  json index = {{"schemaVersion", 2},
                {"mediaType", media::kOciIndex},
                {"manifests", std::move(manifests)}};
  Reply r = Reply::Json(http::status::ok, index.dump());
  r.headers.set(http::field::content_type, media::kOciIndex);
  if (filter) r.headers.set("OCI-Filters-Applied", "artifactType");
  co_return r;
}

}  // namespace keep::server::handlers
