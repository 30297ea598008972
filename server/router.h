// server/router.h — the route table and path matching.
//
// The table (router.cc) is data: verb + path area → handler + the access the
// route needs. Access is decided from it before any handler runs. Matching
// validates the repository name and digests in the path, so nothing
// unvalidated reaches a handler. Stateless; thread-safe.
#pragma once

#include "auth/auth.h"
#include "core/metrics.h"
#include "server/handlers/handlers.h"

namespace keep::server {

enum class Area {
  kBase,
  kCatalog,
  kTags,
  kManifest,
  kBlob,
  kUploads,
  kUpload,
  kReferrers,
  kToken,
  kSignatures,  // the signature extension API: /extensions/v2/<name>/signatures/<digest>
  // The admin API under /admin/v1/ (docs/admin-api.md).
  kWhoami,
  kUsers,
  kUser,
  kUserPassword,
  kRobots,
  kRobot,
  kNamespaces,
  kNamespace,
  kMembers,
  kMember,
  kKeys,
  kKey,
  kPolicy,
  kIdentities,
  kIdentity,
  kTrustRoots,
  kTrustRoot,
  kVerify,
  kGc,
  kFsck,
  kBackup,
  kQuarantine,
  kMirrors,
  kMirror,
  kMirrorSync,
  kMirrorApprove,
  kMirrorKey,
  kMaintenance,
  kAudit,
  // Liveness and readiness, for load balancers and orchestrators.
  kHealth,
  kReady,
  // The Prometheus exposition (admins, or the scraper's credential).
  kMetrics,
};

struct Route {
  http::verb verb;
  Area area;
  Action action;
  handlers::Handler handler;
};

struct Match {
  const Route* route = nullptr;
  RouteParams params;
};

// kNotFound when no area matches the path, kMethodNotAllowed when the area
// has no route for the verb, kNameInvalid / kDigestInvalid for bad parts.
[[nodiscard]] Result<Match> MatchRoute(http::verb verb, std::string_view path);

// The route template an area counts under in the metrics (never the path).
[[nodiscard]] metrics::Route MetricsRouteOf(Area area);

// The verbs the route table has for the path's area, as the Allow field of a
// 405 lists them ("GET, HEAD"); empty when no area matches the path.
[[nodiscard]] std::string AllowedMethods(std::string_view path);

}  // namespace keep::server
