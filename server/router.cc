#include "server/router.h"

#include "mirror/rule.h"

#include <array>
#include <vector>

namespace keep::server {
namespace {

using namespace handlers;
using V = http::verb;

// The whole API. HEAD shares its GET handler: the session sends headers only.
const std::array kRoutes = {
    Route{V::get, Area::kBase, Action::kLogin, Base},
    Route{V::head, Area::kBase, Action::kLogin, Base},
    Route{V::get, Area::kCatalog, Action::kCatalog, Catalog},
    Route{V::get, Area::kTags, Action::kPull, ListTags},
    Route{V::get, Area::kManifest, Action::kPull, GetManifest},
    Route{V::head, Area::kManifest, Action::kPull, GetManifest},
    Route{V::put, Area::kManifest, Action::kPush, PutManifest},
    Route{V::delete_, Area::kManifest, Action::kDelete, DeleteManifest},
    Route{V::get, Area::kBlob, Action::kPull, GetBlob},
    Route{V::head, Area::kBlob, Action::kPull, GetBlob},
    Route{V::delete_, Area::kBlob, Action::kDelete, DeleteBlob},
    Route{V::post, Area::kUploads, Action::kPush, StartUpload},
    Route{V::get, Area::kUpload, Action::kPush, UploadStatus},
    Route{V::patch, Area::kUpload, Action::kPush, PatchUpload},
    Route{V::put, Area::kUpload, Action::kPush, FinishUpload},
    Route{V::delete_, Area::kUpload, Action::kPush, CancelUpload},
    Route{V::get, Area::kReferrers, Action::kPull, Referrers},
    Route{V::get, Area::kSignatures, Action::kPull, GetSignatures},
    Route{V::put, Area::kSignatures, Action::kPush, PutSignature},
    // The token service authenticates by itself: anonymous callers get anonymous grants.
    Route{V::get, Area::kToken, Action::kNone, GetToken},
    Route{V::post, Area::kToken, Action::kNone, PostToken},
    // The admin API. Robots are managed by namespace maintainers: their
    // handlers check maintainer access to each namespace a robot is scoped to.
    Route{V::get, Area::kWhoami, Action::kLogin, Whoami},
    Route{V::get, Area::kUsers, Action::kAdmin, ListUsers},
    Route{V::post, Area::kUsers, Action::kAdmin, CreateUser},
    Route{V::get, Area::kUser, Action::kSelf, ShowUser},
    Route{V::patch, Area::kUser, Action::kAdmin, UpdateUser},
    Route{V::put, Area::kUserPassword, Action::kSelf, SetPassword},
    Route{V::get, Area::kRobots, Action::kPerson, ListRobots},
    Route{V::post, Area::kRobots, Action::kPerson, CreateRobot},
    Route{V::delete_, Area::kRobot, Action::kPerson, DeleteRobot},
    Route{V::get, Area::kNamespaces, Action::kPerson, ListNamespaces},
    Route{V::post, Area::kNamespaces, Action::kAdmin, CreateNamespace},
    Route{V::get, Area::kNamespace, Action::kMaintain, ShowNamespace},
    Route{V::patch, Area::kNamespace, Action::kMaintain, UpdateNamespace},
    Route{V::delete_, Area::kNamespace, Action::kAdmin, DeleteNamespace},
    Route{V::get, Area::kMembers, Action::kMaintain, ListMembers},
    Route{V::put, Area::kMember, Action::kMaintain, SetMember},
    Route{V::delete_, Area::kMember, Action::kMaintain, RemoveMember},
    Route{V::get, Area::kKeys, Action::kMaintain, ListKeys},
    Route{V::post, Area::kKeys, Action::kMaintain, AddKey},
    Route{V::delete_, Area::kKey, Action::kMaintain, RevokeKey},
    Route{V::get, Area::kIdentities, Action::kMaintain, ListIdentities},
    Route{V::post, Area::kIdentities, Action::kMaintain, AddIdentity},
    Route{V::get, Area::kIdentity, Action::kMaintain, ShowIdentity},
    Route{V::delete_, Area::kIdentity, Action::kMaintain, RevokeIdentity},
    Route{V::get, Area::kTrustRoots, Action::kAdmin, ListTrustRoots},
    Route{V::get, Area::kTrustRoot, Action::kAdmin, ShowTrustRoot},
    Route{V::put, Area::kTrustRoot, Action::kAdmin, SetTrustRoot},
    Route{V::delete_, Area::kTrustRoot, Action::kAdmin, DeleteTrustRoot},
    Route{V::get, Area::kPolicy, Action::kMaintain, GetPolicy},
    Route{V::put, Area::kPolicy, Action::kMaintain, SetPolicy},
    // Needs pull on the repository named in the query: checked by the handler.
    Route{V::get, Area::kVerify, Action::kLogin, Verify},
    // Maintainers of the namespace in the query: checked by the handlers.
    Route{V::get, Area::kQuarantine, Action::kPerson, ListQuarantine},
    Route{V::delete_, Area::kQuarantine, Action::kPerson, DropQuarantined},
    Route{V::post, Area::kGc, Action::kAdmin, CollectGarbage},
    Route{V::post, Area::kFsck, Action::kAdmin, CheckIntegrity},
    Route{V::post, Area::kBackup, Action::kAdmin, BackupDatabase},
    Route{V::get, Area::kMaintenance, Action::kAdmin, MaintenanceState},
    // Admins, or maintainers of the namespace in the query: checked by the handler.
    Route{V::get, Area::kAudit, Action::kPerson, ListAudit},
    Route{V::get, Area::kMirrors, Action::kAdmin, ListMirrors},
    Route{V::post, Area::kMirrors, Action::kAdmin, CreateMirror},
    Route{V::get, Area::kMirror, Action::kAdmin, ShowMirror},
    Route{V::patch, Area::kMirror, Action::kAdmin, UpdateMirror},
    Route{V::delete_, Area::kMirror, Action::kAdmin, DeleteMirror},
    Route{V::post, Area::kMirrorSync, Action::kAdmin, StartMirrorSync},
    Route{V::get, Area::kMirrorSync, Action::kAdmin, MirrorSyncStatus},
    // Maintainers of the namespace of the repository in the body: checked by the handler.
    Route{V::post, Area::kMirrorApprove, Action::kPerson, ApproveMirrorChange},
    Route{V::get, Area::kMirrorKey, Action::kLogin, MirrorKey},
    // Open to anyone and never authenticated (so never slowed by login
    // throttling): they name nothing stored, and read no content.
    Route{V::get, Area::kHealth, Action::kNone, Healthz},
    Route{V::head, Area::kHealth, Action::kNone, Healthz},
    Route{V::get, Area::kReady, Action::kNone, Readyz},
    Route{V::head, Area::kReady, Action::kNone, Readyz},
    // Admins; the session also lets in the scraper's credential
    // (metrics.token_file) here, and nowhere else.
    Route{V::get, Area::kMetrics, Action::kAdmin, Metrics},
};

bool IsUploadId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Join(const std::vector<std::string_view>& segs, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += segs[i];
  }
  return out;
}

struct Located {
  Area area;
  std::size_t name_segments;  // how many leading segments form the name
  std::string_view last;      // the reference / digest / upload id
};

// Finds the API area of the path after "/v2/", reading from the right (a
// repository name may itself contain "manifests" or "blobs").
std::optional<Located> Locate(const std::vector<std::string_view>& s) {
  std::size_t n = s.size();
  if (n >= 3 && s[n - 2] == "tags" && s[n - 1] == "list") return Located{Area::kTags, n - 2, {}};
  if (n >= 3 && s[n - 2] == "blobs" && s[n - 1] == "uploads") return Located{Area::kUploads, n - 2, {}};
  if (n >= 4 && s[n - 3] == "blobs" && s[n - 2] == "uploads") {
    if (s[n - 1].empty()) return Located{Area::kUploads, n - 3, {}};
    return Located{Area::kUpload, n - 3, s[n - 1]};
  }
  if (n >= 3 && s[n - 2] == "manifests") return Located{Area::kManifest, n - 2, s[n - 1]};
  if (n >= 3 && s[n - 2] == "blobs") return Located{Area::kBlob, n - 2, s[n - 1]};
  if (n >= 3 && s[n - 2] == "referrers") return Located{Area::kReferrers, n - 2, s[n - 1]};
  return std::nullopt;
}

std::vector<std::string_view> Split(std::string_view rest) {
  std::vector<std::string_view> segs;
  std::size_t start = 0;
  while (true) {
    auto slash = rest.find('/', start);
    segs.push_back(rest.substr(start, slash == std::string_view::npos ? rest.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segs;
}

Error NoEndpoint(std::string_view path) {
  return Fail(ErrorCode::kNotFound, "no such API endpoint: " + std::string(path));
}

// /admin/v1/...: the area, with the user or namespace in params.name and a
// member in params.reference, each checked against its grammar.
Result<Area> LocateAdmin(std::string_view path, RouteParams& params) {
  auto s = Split(path.substr(std::string_view("/admin/v1/").size()));
  std::size_t n = s.size();
  if (n == 1 && s[0] == "whoami") return Area::kWhoami;
  if (n == 1 && s[0] == "verify") return Area::kVerify;
  if (n == 1 && s[0] == "quarantine") return Area::kQuarantine;
  if (n == 1 && s[0] == "gc") return Area::kGc;
  if (n == 1 && s[0] == "fsck") return Area::kFsck;
  if (n == 1 && s[0] == "backup") return Area::kBackup;
  if (n == 1 && s[0] == "mirror-key") return Area::kMirrorKey;
  if (n == 1 && s[0] == "maintenance") return Area::kMaintenance;
  if (n == 1 && s[0] == "audit") return Area::kAudit;
  if (s[0] == "trust-roots") {
    if (n == 1) return Area::kTrustRoots;
    params.name = std::string(s[1]);
    KEEP_TRY(ValidateSignerName("trust root", params.name));
    if (n == 2) return Area::kTrustRoot;
    return NoEndpoint(path);
  }
  if (s[0] == "mirrors") {
    if (n == 1) return Area::kMirrors;
    params.name = std::string(s[1]);
    KEEP_TRY(mirror::ValidateRuleName(params.name));
    if (n == 2) return Area::kMirror;
    if (n == 3 && s[2] == "sync") return Area::kMirrorSync;
    if (n == 3 && s[2] == "approve") return Area::kMirrorApprove;
    return NoEndpoint(path);
  }
  if (s[0] == "users") {
    if (n == 1) return Area::kUsers;
    params.name = std::string(s[1]);
    KEEP_TRY(ValidateAccountName(params.name));
    if (n == 2) return Area::kUser;
    if (n == 3 && s[2] == "password") return Area::kUserPassword;
  } else if (s[0] == "robots") {
    if (n == 1) return Area::kRobots;
    params.name = std::string(s[1]);
    KEEP_TRY(ValidateRobotName(params.name));
    if (n == 2) return Area::kRobot;
  } else if (s[0] == "namespaces") {
    if (n == 1) return Area::kNamespaces;
    params.name = std::string(s[1]);
    KEEP_TRY(ValidateNamespaceName(params.name));
    if (n == 2) return Area::kNamespace;
    if (n == 3 && s[2] == "members") return Area::kMembers;
    if (n == 3 && s[2] == "keys") return Area::kKeys;
    if (n == 3 && s[2] == "policy") return Area::kPolicy;
    if (n == 3 && s[2] == "identities") return Area::kIdentities;
    if (n == 4 && s[2] == "identities") {
      params.reference = std::string(s[3]);
      KEEP_TRY(ValidateSignerName("identity", params.reference));
      return Area::kIdentity;
    }
    if (n == 4 && s[2] == "keys") {
      params.reference = std::string(s[3]);
      // 64 lowercase hex (a PEM key's SPKI digest) or an OpenPGP fingerprint.
      if (params.reference.size() < 32 || params.reference.size() > 64 ||
          params.reference.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
        return Fail(ErrorCode::kInvalid,
                    "a key id is 64 hex digits, or an OpenPGP key's 40-digit fingerprint");
      }
      return Area::kKey;
    }
    if (n == 4 && s[2] == "members") {
      params.reference = std::string(s[3]);
      KEEP_TRY(ValidateAccountName(params.reference));
      return Area::kMember;
    }
  }
  return NoEndpoint(path);
}

// The area of the path, with its validated parts in params.
Result<Area> AreaOf(std::string_view path, RouteParams& params) {
  std::optional<Area> area;
  if (path == "/token") {
    area = Area::kToken;
  } else if (path == "/healthz") {
    area = Area::kHealth;
  } else if (path == "/readyz") {
    area = Area::kReady;
  } else if (path == "/metrics") {
    area = Area::kMetrics;
  } else if (path.substr(0, 15) == "/extensions/v2/") {
    // <name>/signatures/<digest>
    auto segs = Split(path.substr(15));
    std::size_t n = segs.size();
    if (n < 3 || segs[n - 2] != "signatures") return NoEndpoint(path);
    params.name = Join(segs, n - 2);
    KEEP_TRY(ValidateRepoName(params.name));
    KEEP_TRY(Digest::Parse(segs[n - 1]));
    params.reference = std::string(segs[n - 1]);
    area = Area::kSignatures;
  } else if (path.substr(0, 10) == "/admin/v1/") {
    auto a = LocateAdmin(path, params);
    if (!a) return a.error();
    area = *a;
  } else if (path == "/v2/" || path == "/v2") {
    area = Area::kBase;
  } else if (path == "/v2/_catalog") {
    area = Area::kCatalog;
  } else if (path.substr(0, 4) == "/v2/") {
    auto segs = Split(path.substr(4));
    auto loc = Locate(segs);
    if (!loc) return NoEndpoint(path);
    area = loc->area;
    params.name = Join(segs, loc->name_segments);
    KEEP_TRY(ValidateRepoName(params.name));
    params.reference = std::string(loc->last);
    if (loc->area == Area::kBlob || loc->area == Area::kReferrers) {
      KEEP_TRY(Digest::Parse(loc->last));
    } else if (loc->area == Area::kUpload && !IsUploadId(loc->last)) {
      return Fail(ErrorCode::kBlobUploadUnknown, "upload session not found");
    } else if (loc->area == Area::kManifest && loc->last.empty()) {
      return Fail(ErrorCode::kNotFound, "no such API endpoint: " + std::string(path));
    }
  } else {
    return Fail(ErrorCode::kNotFound, "no such API endpoint: " + std::string(path));
  }
  return *area;
}

}  // namespace

Result<Match> MatchRoute(http::verb verb, std::string_view path) {
  Match m;
  auto area = AreaOf(path, m.params);
  if (!area) return area.error();
  for (const Route& r : kRoutes) {
    if (r.area == *area && r.verb == verb) {
      m.route = &r;
      return m;
    }
  }
  return Fail(ErrorCode::kMethodNotAllowed,
              "method " + std::string(http::to_string(verb)) + " is not supported here");
}

metrics::Route MetricsRouteOf(Area area) {
  using R = metrics::Route;
  switch (area) {
    case Area::kBase: return R::kBase;
    case Area::kCatalog: return R::kCatalog;
    case Area::kTags: return R::kTags;
    case Area::kManifest: return R::kManifest;
    case Area::kBlob: return R::kBlob;
    case Area::kUploads:
    case Area::kUpload: return R::kUpload;
    case Area::kReferrers: return R::kReferrers;
    case Area::kSignatures: return R::kSignatures;
    case Area::kToken: return R::kToken;
    case Area::kHealth:
    case Area::kReady: return R::kHealth;
    case Area::kMetrics: return R::kMetrics;
    default: return R::kAdmin;  // every other area is the admin API's
  }
}

std::string AllowedMethods(std::string_view path) {
  RouteParams params;
  auto area = AreaOf(path, params);
  if (!area) return {};
  std::string allow;
  for (const Route& r : kRoutes) {
    if (r.area != *area) continue;
    if (!allow.empty()) allow += ", ";
    allow += http::to_string(r.verb);
  }
  return allow;
}

}  // namespace keep::server
