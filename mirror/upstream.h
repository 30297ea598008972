// mirror/upstream.h — keepd as a client of an upstream registry (the
// OCI Distribution API), for the curated mirror's sync and pull-through.
//
// One Upstream talks to one registry: https (TLS 1.2 or later, the server's
// certificate checked against the rule's CA file or the system's CAs and the
// host name), or plain http only when the URL says so. It speaks:
//   * the /v2/ probe, and the auth the upstream asks for there: none, HTTP
//     Basic, or the Docker token flow (`WWW-Authenticate: Bearer realm=...,
//     service=...`; a token per repository scope "repository:<repo>:pull",
//     anonymous or with the credentials given, cached until it expires);
//   * manifests by tag or digest with an Accept header naming every manifest
//     type Keep stores; bodies bounded, digests checked;
//   * tag lists, following the Link header's pages;
//   * blobs streamed to a sink from an offset (a Range request, to resume);
//   * the referrers API, when the upstream has it.
// Answers 429 and 5xx, and transport failures, are retried with exponential
// back-off (honouring Retry-After, capped), up to Options::attempts times.
//
// Errors: kUnavailable for an upstream that cannot be reached or keeps
// failing; kDenied when it refuses the credentials; kManifestUnknown /
// kBlobUnknown / kNameUnknown for a 404; kDigestInvalid when bytes do not
// match the digest asked for. Every message names the upstream and what was
// asked of it, and never carries a password or token.
//
// Calls block (each network step has a deadline). One Upstream may be used
// by several threads at once: each call takes a connection of its own from a
// small pool, at most Options::connections at a time.
#pragma once

#include "core/digest.h"
#include "core/error.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep::mirror {

struct UpstreamOptions {
  // "https://host[:port]" or "http://host[:port]"; no path, query or userinfo.
  std::string url;
  std::string ca_file;   // PEM CA certificates; empty: the system's CAs
  std::string username;  // with password: Basic, or the token service's credentials
  std::string password;
  std::chrono::seconds timeout{60};  // per network step (connect, each read or write)
  int attempts = 4;                  // tries of one request before giving up
  int connections = 4;               // requests in flight at once
  std::chrono::milliseconds first_backoff{500};
};

struct UpstreamManifest {
  std::string media_type;  // the Content-Type the upstream sent (parameters dropped)
  std::string bytes;
  Digest digest;  // of `bytes` (sha256, or the algorithm of a digest reference)
};

// A blob chunk handler; an error from it stops the transfer and is returned.
using ChunkSink = std::function<Result<void>(std::string_view chunk)>;

class Upstream {
 public:
  // Checks the options (kInvalid for a bad URL or CA file) and loads the
  // CAs; connects only when a call needs it.
  [[nodiscard]] static Result<std::unique_ptr<Upstream>> Open(UpstreamOptions options);
  ~Upstream();
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // "https://host:port" as configured, for messages.
  const std::string& url() const;

  // GET /v2/: reachable, and the credentials (if any) accepted.
  [[nodiscard]] Result<void> Probe();

  // A manifest by tag or by digest ("sha256:..."). When `reference` is a
  // digest, the bytes are checked against it (kDigestInvalid otherwise).
  // Bodies over max_bytes are refused (kTooLarge).
  [[nodiscard]] Result<UpstreamManifest> GetManifest(std::string_view repo,
                                                     std::string_view reference,
                                                     std::size_t max_bytes = 4 << 20);

  // Every tag of the repository, in the upstream's order, across pages.
  [[nodiscard]] Result<std::vector<std::string>> ListTags(std::string_view repo);

  // Streams the bytes of blob `digest` from byte `offset` on into `sink`
  // (a Range request when offset > 0; an upstream that ignores Range has the
  // first `offset` bytes skipped). `expected_size` bounds what is read: more
  // bytes is kSizeInvalid. The caller checks the digest of what it stored.
  [[nodiscard]] Result<void> FetchBlob(std::string_view repo, const Digest& digest,
                                       std::uint64_t expected_size, std::uint64_t offset,
                                       const ChunkSink& sink);

  // GET /v2/<repo>/referrers/<digest>: the image index's JSON text, or
  // nullopt when the upstream does not offer the referrers API (404).
  [[nodiscard]] Result<std::optional<std::string>> Referrers(std::string_view repo,
                                                             const Digest& digest);

 private:
  struct Impl;
  explicit Upstream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keep::mirror
