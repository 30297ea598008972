// core/metrics.h — what keepd counts while it runs, and its rendering in
// the Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// Every label takes its values from a small fixed set declared here (route
// templates, methods, status codes, trust reasons...), never from a request's
// path, a repository name or anything else a client chooses: the number of
// series is bounded whatever clients send. Each figure is a relaxed atomic in
// a fixed array, so counting takes no lock and allocates nothing.
//
// Process-wide (Global()), as the process they describe is. Thread-safe: any
// thread may count and render at any time; a rendering is a snapshot of
// each counter, not of all of them at one instant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keep::metrics {

// The route template of a request (its API area), the `route` label.
enum class Route : std::uint8_t {
  kBase,        // /v2/
  kCatalog,     // /v2/_catalog
  kTags,        // /v2/<name>/tags/list
  kManifest,    // /v2/<name>/manifests/<reference>
  kBlob,        // /v2/<name>/blobs/<digest>
  kUpload,      // /v2/<name>/blobs/uploads/[<id>]
  kReferrers,   // /v2/<name>/referrers/<digest>
  kSignatures,  // /extensions/v2/<name>/signatures/<digest>
  kToken,       // /token
  kAdmin,       // /admin/v1/...
  kHealth,      // /healthz, /readyz
  kMetrics,     // /metrics
  kOther,       // anything no route matched
};
inline constexpr std::size_t kRouteCount = 13;

// The `method` label; methods keepd never routes count as "OTHER".
enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOther };
inline constexpr std::size_t kMethodCount = 7;
Method MethodOf(std::string_view name);  // "GET" -> kGet; anything unknown -> kOther

// A trust decision (`keep_trust_decisions_total{decision,reason}`).
enum class Trust : std::uint8_t {
  // allowed
  kServedSigned,        // a reader is served signed content: reason "signed"
  kServedToPublisher,   // the caller may push there and sees all: "publisher"
  kServedOpen,          // the namespace is open: "open_namespace"
  kServedMirrorVetted,  // a pull-through's image the curator is about to sign: "mirror_vetted"
  kPushedSigned,        // a manifest pushed already signed: "signed"
  kSignatureAccepted,   // a signature pushed verified: "signature_verified"
  // refused
  kPushedQuarantined,  // a manifest pushed unsigned, withheld from readers: "quarantined"
  kUnsignedManifest,   // a reader refused a manifest: "unsigned_manifest"
  kUnsignedBlob,       // a reader refused a blob: "unsigned_blob"
  kSignatureRefused,   // a signature pushed that no trusted signer verified: "signature_unverified"
  kStrictUnsigned,     // a strict namespace refused an unsigned push: "strict_unsigned"
};
inline constexpr std::size_t kTrustCount = 11;

// The `format` of keep_signature_verifications_total.
enum class SignatureFormat : std::uint8_t { kCosign, kSigstoreBundle, kGpg };
inline constexpr std::size_t kSignatureFormatCount = 3;

// How a mirror sync ended: every tag synced or unchanged ("ok"); some tag
// refused by vetting or held for approval ("refused"); the upstream could
// not be read for some tag, or at all ("failed").
enum class SyncResult : std::uint8_t { kOk, kRefused, kFailed };
inline constexpr std::size_t kSyncResultCount = 3;

// A request refused by a limit (`keep_limited_requests_total{limit}`,
// server/limits.h): requests per second from one address or by one user,
// uploads at once, open upload sessions or the bytes they hold, per user.
enum class Limit : std::uint8_t {
  kAddressRate,
  kUserRate,
  kConcurrentUploads,
  kUploadSessions,
  kUploadBytes
};
inline constexpr std::size_t kLimitCount = 5;

// Counting. Each is a few relaxed atomic additions.
void CountRequest(Route route, Method method, int status, std::uint64_t bytes_in,
                  std::uint64_t bytes_out, double seconds);
void CountTrust(Trust decision);
void CountSignature(SignatureFormat format, bool verified);
void CountGcRun(bool ok, std::uint64_t bytes_freed);
void CountMirrorSync(SyncResult result);
void CountLimited(Limit limit);
// A mirrored tag's outcome: "synced", "unchanged", "refused", "held" or
// "failed" (mirror/sync.h); any other state is not counted.
void CountMirrorTag(std::string_view state);

// Gauges.
void ConnectionOpened();
void ConnectionClosed();
// What the metadata says is stored: distinct blob bytes (manifests
// included), and upload sessions not yet finished.
void SetStorage(std::int64_t stored_bytes, std::int64_t upload_sessions);
// The process's start (unix seconds) and version, for keep_build_info.
void SetProcessInfo(std::int64_t start_unix_seconds, std::string_view version,
                    std::string_view commit);

// The whole exposition: HELP and TYPE lines, then the samples, of every
// family, ending with a line feed. Content-Type: kContentType.
std::string Render();
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// The name of every family Render() writes (histograms by their base name),
// for checks that dashboards and alerts name only what exists.
std::vector<std::string_view> FamilyNames();

// For tests: what one counter of the requests family holds now.
std::uint64_t RequestCount(Route route, Method method, int status);

}  // namespace keep::metrics
