// Fuzzes server::MatchRoute (server/router.h): the routing of request
// paths, both as sent and percent-decoded the way the session does it
// (boost::urls::parse_origin_form(target).path()); and server::ParseForm
// (server/exchange.h) on the query string, as a query and as a form body.
//
// Input: "<VERB> <target>"; with no space, the whole input is the target of
// a GET.
//
// Invariants, for a matched route: its verb is the one asked for; the
// repository name passes ValidateRepoName; the reference of a blob or
// referrers route is a canonical digest, of an upload route an upload id,
// of a manifest route non-empty and without '/'; and the path is exactly
// what the area, name and reference spell, so nothing was dropped or
// re-interpreted. Refusals carry a routing code, and "method not allowed"
// means some other verb is routed there. ParseForm yields at most one pair
// per '&'-separated part, and with nothing to decode, exactly those parts.
#include "core/core.h"
#include "fuzz_check.h"
#include "server/router.h"

#include <boost/url/parse.hpp>

#include <algorithm>

namespace {

using namespace keep;
using namespace keep::server;

constexpr http::verb kVerbs[] = {http::verb::get,   http::verb::head,  http::verb::put,
                                 http::verb::post,  http::verb::patch, http::verb::delete_,
                                 http::verb::options};

bool IsUploadId(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The paths that route to this area with this name and reference.
bool Spells(Area area, const RouteParams& p, std::string_view path) {
  const std::string base = "/v2/" + p.name;
  switch (area) {
    case Area::kBase: return path == "/v2/" || path == "/v2";
    case Area::kCatalog: return path == "/v2/_catalog";
    case Area::kTags: return path == base + "/tags/list";
    case Area::kManifest: return path == base + "/manifests/" + p.reference;
    case Area::kBlob: return path == base + "/blobs/" + p.reference;
    case Area::kUploads: return path == base + "/blobs/uploads" || path == base + "/blobs/uploads/";
    case Area::kUpload: return path == base + "/blobs/uploads/" + p.reference;
    case Area::kReferrers: return path == base + "/referrers/" + p.reference;
    case Area::kToken: return path == "/token";
  }
  return true;  // an area this target does not know yet
}

// Routes whose path names a repository.
bool HasName(Area area) {
  switch (area) {
    case Area::kTags: case Area::kManifest: case Area::kBlob: case Area::kUploads:
    case Area::kUpload: case Area::kReferrers: case Area::kSignatures: return true;
    default: return false;
  }
}
// Routes with no path parameters at all (admin routes name users, robots,
// namespaces and keys, each checked by its own grammar).
bool HasNoParams(Area area) {
  return area == Area::kBase || area == Area::kCatalog || area == Area::kToken;
}

void Check(http::verb verb, std::string_view path, std::string_view in) {
  auto m = MatchRoute(verb, path);
  if (!m) {
    auto c = m.error().code;
    // Admin paths name users, robots, namespaces and keys: a bad one is INVALID.
    const bool admin = path.starts_with("/admin/");
    FUZZ_CHECK(c == ErrorCode::kNotFound || c == ErrorCode::kMethodNotAllowed ||
                   c == ErrorCode::kNameInvalid || c == ErrorCode::kDigestInvalid ||
                   c == ErrorCode::kBlobUploadUnknown || (admin && c == ErrorCode::kInvalid),
               in);
    if (c == ErrorCode::kMethodNotAllowed) {
      bool some = false;
      for (auto v : kVerbs) some = some || MatchRoute(v, path).has_value();
      FUZZ_CHECK(some, in);
    }
    return;
  }
  const Route* r = m->route;
  FUZZ_CHECK(r != nullptr, in);
  FUZZ_CHECK(r->verb == verb, in);
  FUZZ_CHECK(r->handler != nullptr, in);
  const RouteParams& p = m->params;
  if (HasName(r->area)) {
    FUZZ_CHECK(ValidateRepoName(p.name), in);
  } else if (HasNoParams(r->area)) {
    FUZZ_CHECK(p.name.empty() && p.reference.empty(), in);
  }
  switch (r->area) {
    case Area::kBlob:
    case Area::kReferrers: {
      auto d = Digest::Parse(p.reference);
      FUZZ_CHECK(d && d->str() == p.reference, in);
      break;
    }
    case Area::kUpload: FUZZ_CHECK(IsUploadId(p.reference), in); break;
    case Area::kManifest:
      FUZZ_CHECK(!p.reference.empty() && p.reference.find('/') == std::string::npos, in);
      break;
    default: break;
  }
  FUZZ_CHECK(Spells(r->area, p, path), in);
  // HEAD is served by the GET handler wherever both exist.
  if (verb == http::verb::head) {
    auto get = MatchRoute(http::verb::get, path);
    FUZZ_CHECK(get && get->route->handler == r->handler, in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in = keep::fuzz::AsText(data, size);
  http::verb verb = http::verb::get;
  std::string_view target = in;
  if (auto sp = in.find(' '); sp != std::string_view::npos) {
    verb = http::string_to_verb(in.substr(0, sp));
    target = in.substr(sp + 1);
  }
  Check(verb, target, in);

  // As the session sees it: the origin-form target, its path percent-decoded.
  auto parsed = boost::urls::parse_origin_form(target);
  if (parsed) {
    std::string decoded = parsed->path();
    Check(verb, decoded, in);
    // A target without '%' or a query decodes to itself.
    if (target.find_first_of("%?") == std::string_view::npos) FUZZ_CHECK(decoded == target, in);
  }

  // The query string (and, with '+' as space, a form body): ParseForm.
  std::string_view query = target.substr(std::min(target.find('?'), target.size()));
  if (!query.empty()) query.remove_prefix(1);
  for (bool plus_is_space : {false, true}) {
    auto form = ParseForm(query, plus_is_space);
    FUZZ_CHECK(form.size() <= static_cast<std::size_t>(std::count(query.begin(), query.end(), '&')) + 1, in);
    if (!form.empty() && query.find_first_of("%+") == std::string_view::npos) {
      // Nothing to decode: the pairs are the text between '&' and '='.
      std::string_view rest = query;
      for (const auto& [k, v] : form) {
        std::string_view pair = rest.substr(0, rest.find('&'));
        rest.remove_prefix(std::min(rest.size(), pair.size() + 1));
        auto eq = pair.find('=');
        FUZZ_CHECK(k == pair.substr(0, eq), in);
        FUZZ_CHECK(v == (eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1)), in);
      }
    }
  }
  return 0;
}
