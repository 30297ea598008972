// Manifests: GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>.
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"
#include "server/manifest_cache.h"

#include "core/metrics.h"
#include "mirror/service.h"
#include "trust/cosign.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace keep::server::handlers {
namespace {

std::string ManifestPath(const std::string& name, const std::string& digest) {
  return "/v2/" + name + "/manifests/" + digest;
}

Error Unknown(Metadata& md, const std::string& repo, const std::string& ref) {
  auto exists = md.RepoExists(repo);
  if (exists && !*exists) {
    return Fail(ErrorCode::kNameUnknown, "repository " + repo + " is not known to this registry");
  }
  return Fail(ErrorCode::kManifestUnknown, "manifest " + ref + " is not in repository " + repo);
}

// Does the Accept header (a list of media types with parameters) allow mt?
// A request that names no manifest type at all accepts any.
bool Accepts(std::string_view accept, std::string_view mt) {
  if (accept.empty()) return true;
  bool named_manifest_type = false;
  std::size_t start = 0;
  while (start <= accept.size()) {
    auto comma = accept.find(',', start);
    std::string_view item = accept.substr(start, comma == accept.npos ? accept.npos : comma - start);
    auto semi = item.find(';');
    if (semi != item.npos) item = item.substr(0, semi);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == mt || item == "*/*") return true;
    if (IsManifestMediaType(item)) named_manifest_type = true;
    if (comma == accept.npos) break;
    start = comma + 1;
  }
  return !named_manifest_type;
}

// The algorithm a push digests the manifest with: a digest reference's own,
// else the spec's digest-algorithm parameter, else sha256.
Result<DigestAlgorithm> PushAlgorithm(const Exchange& ex, const Reference& ref) {
  auto named = ex.query("digest-algorithm");
  if (!named) return ref.is_digest() ? ref.digest().algorithm() : DigestAlgorithm::kSha256;
  auto algorithm = ParseDigestAlgorithm(*named);
  if (!algorithm) {
    return Fail(ErrorCode::kDigestInvalid,
                "the digest-algorithm parameter must be sha256 or sha512");
  }
  if (ref.is_digest() && ref.digest().algorithm() != *algorithm) {
    return Fail(ErrorCode::kDigestInvalid, "the manifest is pushed by a " +
                                               std::string(ref.digest().algorithm_name()) +
                                               " digest, but digest-algorithm asks for " + *named);
  }
  return *algorithm;
}

// A tag as a client sent it, safe to quote in a message.
std::string Shown(std::string_view tag) {
  std::string out(tag.substr(0, 130));
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '?';
  }
  return out;
}

// The tags a push sets: the one in the path of a push by tag, or those a
// push by digest names with ?tag= (the spec's main branch), each valid
// before anything is stored.
Result<std::vector<std::string>> PushTags(const Exchange& ex, const Reference& ref) {
  std::vector<std::string> tags = ex.query_all("tag");
  if (!ref.is_digest()) {
    if (!tags.empty()) {
      return Fail(ErrorCode::kManifestInvalid,
                  "tag parameters go with a push by digest (PUT /v2/<name>/manifests/<digest>"
                  "?tag=<tag>&tag=...); this push already names its tag in the path");
    }
    return std::vector<std::string>{ref.tag()};
  }
  for (const auto& tag : tags) {
    if (!IsValidTag(tag)) {
      return Fail(ErrorCode::kManifestInvalid,
                  "invalid tag \"" + Shown(tag) + "\": up to 128 characters of letters, digits, "
                  "'_', '.' and '-', not starting with '.' or '-'; no tag was set");
    }
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  // A cosign signature tag names what its manifest signs: it is that
  // manifest's one tag, so that one push is checked against one target.
  if (tags.size() > 1 && std::any_of(tags.begin(), tags.end(), IsCosignSignatureTag)) {
    return Fail(ErrorCode::kManifestInvalid,
                "a signature manifest takes one tag, its sha256-<hex>.sig; push it with that "
                "tag alone");
  }
  return tags;
}

// A manifest a pull-through vetted and is still storing (mirror/pending.h).
Result<Reply> PendingManifestReply(Exchange& ex, const Reference& ref,
                                   mirror::PendingManifest pending) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  const std::string what = repo + (ref.is_digest() ? "@" : ":") + ex.params.reference;
  if (auto ok = CheckPendingServable(svc, ex.who, repo, "manifest " + what); !ok) {
    return RefusedPull(ex, what, ok.error());
  }
  if (!ref.is_digest() && !Accepts(ex.header_list(http::field::accept), pending.media_type)) {
    return Fail(ErrorCode::kManifestUnknown,
                "manifest " + ref.str() + " is a " + pending.media_type +
                    ", which the client's Accept header does not allow");
  }
  Reply r;
  r.headers.set(http::field::content_type, pending.media_type);
  r.headers.set("Docker-Content-Digest", pending.digest.str());
  r.headers.set(http::field::etag, "\"" + pending.digest.str() + "\"");
  r.body = std::move(pending.bytes);
  return r;
}

}  // namespace

Awaitable<Result<Reply>> GetManifest(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  auto ref = Reference::Parse(ex.params.reference);
  if (!ref) co_return Unknown(svc.metadata, repo, ex.params.reference);

  // What a pull-through vetted is served as it is until its image is
  // stored, signed and tagged.
  if (ex.mirror) {
    if (auto pending = svc.mirrors.PendingManifestOf(repo, ex.params.reference)) {
      co_return PendingManifestReply(ex, *ref, std::move(*pending));
    }
  }
  auto record = ref->is_digest() ? svc.metadata.GetManifest(repo, ref->digest().str())
                                 : svc.metadata.GetTagged(repo, ref->tag());
  if (!record) co_return record.error();
  if (!*record && ex.mirror && !ref->is_digest()) {
    // Pull-through: the mirror rule fetches, vets and signs the tag now.
    auto pulled = co_await OffloadTo(
        svc.pull_through, [&] { return svc.mirrors.PullThrough(*ex.mirror, ref->tag()); });
    if (!pulled) co_return pulled.error();
    record = svc.metadata.GetTagged(repo, ref->tag());
    if (!record) co_return record.error();
  }
  if (!*record && ex.mirror) {
    // Vetted by the pull-through just now; its blobs are still arriving.
    if (auto pending = svc.mirrors.PendingManifestOf(repo, ex.params.reference)) {
      co_return PendingManifestReply(ex, *ref, std::move(*pending));
    }
  }
  if (!*record && ex.mirror && ref->is_digest()) {
    if (auto why = svc.mirrors.WhyMissing(*ex.mirror); !why.empty()) {
      co_return Fail(ErrorCode::kDenied,
                     "manifest " + ref->str() + " is not in " + repo + ": " + why);
    }
  }
  if (!*record) co_return Unknown(svc.metadata, repo, ref->str());
  const ManifestRecord& m = **record;
  if (auto ok = CheckManifestServable(svc, ex.who, repo, m.digest, ex.params.reference); !ok) {
    co_return RefusedPull(ex, repo + (ref->is_digest() ? "@" : ":") + ex.params.reference,
                          ok.error());
  }

  if (!ref->is_digest() && !Accepts(ex.header_list(http::field::accept), m.media_type)) {
    co_return Fail(ErrorCode::kManifestUnknown,
                   "manifest " + ref->str() + " is a " + m.media_type +
                       ", which the client's Accept header does not allow");
  }
  auto digest = Digest::Parse(m.digest);
  if (!digest) co_return digest.error();
  std::optional<std::string> bytes = svc.manifest_cache.Find(*digest);
  if (!bytes) {
    auto read = svc.blobs.ReadSmall(*digest, svc.config.max_manifest_bytes);
    if (!read && read.error().code == ErrorCode::kBlobUnknown) {
      co_return Fail(ErrorCode::kInternal,
                     "manifest " + m.digest +
                         " is recorded but its data is missing (quarantined or lost); ask the "
                         "registry's operator to run keepctl fsck, then push it again");
    }
    if (!read) co_return read.error();
    // Manifests are small: every read is checked against its digest, so a
    // damaged file is never served; the cache keeps only checked bytes.
    Hasher check(digest->algorithm());
    check.Update(*read);
    if (check.Finish() != *digest) co_return Damaged(svc, *digest, "manifest");
    svc.manifest_cache.Keep(*digest, *read);
    bytes = std::move(*read);
  }

  Reply r;
  r.headers.set(http::field::content_type, m.media_type);
  r.headers.set("Docker-Content-Digest", m.digest);
  r.headers.set(http::field::etag, "\"" + m.digest + "\"");
  r.body = std::move(*bytes);
  co_return r;
}

Awaitable<Result<Reply>> PutManifest(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  auto ref = Reference::Parse(ex.params.reference);
  if (!ref) co_return ref.error();
  auto algorithm = PushAlgorithm(ex, *ref);
  if (!algorithm) co_return algorithm.error();
  auto tags = PushTags(ex, *ref);
  if (!tags) co_return tags.error();

  auto body = co_await ex.ReadBody(svc.config.max_manifest_bytes);
  if (!body) {
    if (body.error().code == ErrorCode::kTooLarge) {
      co_return Fail(ErrorCode::kTooLarge, "manifest is larger than the " +
                                               std::to_string(svc.config.max_manifest_bytes) +
                                               " bytes this registry accepts");
    }
    co_return body.error();
  }
  auto parsed = ParseManifest(*body, ex.header(http::field::content_type));
  if (!parsed) co_return parsed.error();

  Hasher hasher(*algorithm);
  hasher.Update(*body);
  Digest digest = hasher.Finish();
  if (ref->is_digest() && digest != ref->digest()) {
    co_return Fail(ErrorCode::kDigestInvalid, "the manifest's digest is " + digest.str() +
                                                  ", not " + ref->digest().str());
  }

  ManifestWrite w;
  w.record = ManifestRecord{repo, digest.str(), parsed->media_type,
                            static_cast<std::int64_t>(body->size()), parsed->artifact_type,
                            parsed->subject ? parsed->subject->digest.str() : std::string(),
                            parsed->annotations_json};
  if (parsed->config) w.blobs.push_back(parsed->config->digest.str());
  for (const auto& l : parsed->layers) {
    if (!l.foreign) w.blobs.push_back(l.digest.str());
  }
  for (const auto& c : parsed->manifests) w.children.push_back(c.digest.str());
  std::sort(w.blobs.begin(), w.blobs.end());
  w.blobs.erase(std::unique(w.blobs.begin(), w.blobs.end()), w.blobs.end());
  w.tags = std::move(*tags);

  auto missing = svc.metadata.MissingBlobs(repo, w.blobs);
  if (!missing) co_return missing.error();
  if (!missing->empty()) {
    co_return Fail(ErrorCode::kManifestBlobUnknown,
                   "the manifest references blob " + missing->front() +
                       ", which is not in repository " + repo + "; push the blob first");
  }
  auto missing_children = svc.metadata.MissingManifests(repo, w.children);
  if (!missing_children) co_return missing_children.error();
  if (!missing_children->empty()) {
    co_return Fail(ErrorCode::kManifestBlobUnknown,
                   "the index references manifest " + missing_children->front() +
                       ", which is not in repository " + repo + "; push it first");
  }

  // Signatures are checked first (refused ones store nothing); then the
  // bytes, the index that makes them reachable (safe against a concurrent
  // GC, storage/links.h, which is why the checks above are made again inside
  // the metadata write), and what the signatures prove.
  bool child_candidate = parsed->manifests.empty();  // could be a platform of an index
  auto stored = co_await Offload(svc, [&]() -> Result<Incoming> {
    std::optional<Digest> subject;
    if (parsed->subject) subject = parsed->subject->digest;
    auto incoming =
        CheckIncoming(svc, ex.who, ex.remote(), repo,
                      w.tags.empty() ? std::nullopt : std::optional<std::string>(w.tags.front()),
                      digest, *body, subject, child_candidate);
    if (!incoming) return incoming.error();
    w.signatures = incoming->signatures;  // recorded in the manifest's own write
    KEEP_TRY(StoreManifest(svc.blob_locks, svc.blobs, svc.metadata, digest, *body, w));
    return incoming;
  });
  if (!stored) co_return stored.error();
  // The trust decision, for namespaces that have a policy (were created).
  std::string tagged;
  for (const auto& tag : w.tags) tagged += (tagged.empty() ? "" : ",") + tag;
  AuditEvent event =
      AuditBy(ex, "manifest.push", std::string(NamespaceOf(repo)), repo + "@" + digest.str());
  event.details = {{"repository", repo}, {"digest", digest.str()}, {"tag", tagged}};
  if (stored->namespace_exists && stored->policy.mode != "open") {
    auto trusted = svc.metadata.IsTrusted(repo, digest.str(), stored->policy.threshold);
    const bool ok = trusted && *trusted;
    metrics::CountTrust(ok ? metrics::Trust::kPushedSigned : metrics::Trust::kPushedQuarantined);
    event.outcome = ok ? "trusted" : "quarantined";
    event.details["event"] = ok ? "manifest accepted, trusted" : "manifest accepted, quarantined";
  } else {
    event.details["event"] = "manifest accepted";
  }
  Audit(std::move(event));

  Reply r = Reply::Empty(http::status::created);
  r.headers.set(http::field::location, ManifestPath(repo, digest.str()));
  r.headers.set("Docker-Content-Digest", digest.str());
  if (parsed->subject) r.headers.set("OCI-Subject", parsed->subject->digest.str());
  // The tags a push by digest set with ?tag=, one field each (the spec's main branch).
  if (ref->is_digest()) {
    for (const auto& tag : w.tags) r.headers.insert("OCI-Tag", tag);
  }
  co_return r;
}

Awaitable<Result<Reply>> DeleteManifest(Exchange& ex) {
  const auto& svc = ex.services();
  const std::string& repo = ex.params.name;
  auto ref = Reference::Parse(ex.params.reference);
  if (!ref) co_return ref.error();
  auto removed = ref->is_digest() ? svc.metadata.DeleteManifest(repo, ref->digest().str())
                                  : svc.metadata.DeleteTag(repo, ref->tag());
  if (!removed) co_return removed.error();
  if (!*removed) co_return Unknown(svc.metadata, repo, ref->str());
  AuditEvent event =
      AuditBy(ex, ref->is_digest() ? "manifest.delete" : "tag.delete",
              std::string(NamespaceOf(repo)), repo + (ref->is_digest() ? "@" : ":") + ref->str());
  event.details = {{"event", ref->is_digest() ? "manifest deleted" : "tag deleted"}};
  Audit(std::move(event));
  co_return Reply::Empty(http::status::accepted);
}

}  // namespace keep::server::handlers
