#include "mirror/rule.h"

#include "core/digest.h"
#include "core/names.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace keep::mirror {
namespace {

using nlohmann::json;

Error Bad(const std::string& what) { return Fail(ErrorCode::kInvalid, "mirror rule: " + what); }

Result<void> OnlyMembers(const json& j, std::string_view where,
                         std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Bad("unknown member \"" + key.substr(0, 64) + "\" in " + std::string(where) +
                 " (known: " + list + ")");
    }
  }
  return {};
}

Result<std::string> String(const json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) return Bad(std::string("\"") + key + "\" is required");
    return std::string();
  }
  if (!j[key].is_string()) return Bad(std::string("\"") + key + "\" must be a string");
  return j[key].get<std::string>();
}

bool IsGlob(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

// The upstream's API endpoint for what the user wrote.
Result<void> ResolveUpstream(Rule& r) {
  std::string u = r.upstream;
  if (u == "docker.io" || u == "index.docker.io" || u == "registry-1.docker.io") {
    r.url = "https://registry-1.docker.io";
    r.docker_hub = true;
    return {};
  }
  std::string scheme = "https://";
  if (u.rfind("https://", 0) == 0) {
    u = u.substr(8);
  } else if (u.rfind("http://", 0) == 0) {
    scheme = "http://";
    u = u.substr(7);
  }
  while (!u.empty() && u.back() == '/') u.pop_back();
  // Not echoed: what comes before the '@' is likely a password.
  if (u.find('@') != std::string::npos) {
    return Bad(
        "\"upstream\" must not hold credentials (user:password@host); give them as "
        "\"username\" and \"password\", which are stored sealed");
  }
  if (u.empty() || u.find_first_of("/?#@ ") != std::string::npos) {
    return Bad(
        "\"upstream\" must be a registry host (docker.io, ghcr.io, host:port) or an "
        "https:// URL without a path; got \"" +
        r.upstream.substr(0, 100) + "\"");
  }
  r.url = scheme + u;
  return {};
}

// One of "vetting.signature.identities": {"name", "issuer", "subject" or
// "subject_regex", "extensions"}, checked as the admin API checks a
// namespace's identities (trust/keyless.h, CheckIdentity). `index` names
// one without a name.
Result<KeylessIdentity> ReadIdentity(const json& i, std::size_t index) {
  const std::string where = "\"vetting.signature.identities\"[" + std::to_string(index) + "]";
  if (!i.is_object()) return Bad(where + " must be an object");
  KEEP_TRY(OnlyMembers(i, where, {"name", "issuer", "subject", "subject_regex", "extensions"}));
  auto text = [&](const char* member, std::string& out) -> Result<void> {
    if (!i.contains(member)) return {};
    if (!i[member].is_string() || i[member].get_ref<const std::string&>().empty() ||
        i[member].get_ref<const std::string&>().size() > kMaxSubjectRegex) {
      return Bad(where + "." + member + " must be a string of 1 to " +
                 std::to_string(kMaxSubjectRegex) + " characters");
    }
    out = i[member].get<std::string>();
    return {};
  };
  KeylessIdentity id;
  KEEP_TRY(text("name", id.name));
  KEEP_TRY(text("issuer", id.issuer));
  KEEP_TRY(text("subject", id.subject));
  KEEP_TRY(text("subject_regex", id.subject_regex));
  if (id.name.empty()) id.name = "identity-" + std::to_string(index + 1);
  if (id.issuer.empty() || id.subject.empty() == id.subject_regex.empty()) {
    return Bad(where +
               " needs \"issuer\" (the OIDC issuer) and exactly one of \"subject\" and "
               "\"subject_regex\"");
  }
  if (i.contains("extensions")) {
    const json& e = i["extensions"];
    if (!e.is_object() || e.size() > 16) {
      return Bad(where +
                 ".extensions must be an object of at most 16 \"<name or OID>\": "
                 "\"<value>\" members");
    }
    for (const auto& [key, value] : e.items()) {
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return Bad(where + ".extensions." + key.substr(0, 64) + " must be a non-empty string");
      }
      id.extensions[key] = value.get<std::string>();
    }
  }
  if (auto checked = CheckIdentity(id); !checked) {
    return Bad(where + ": " + checked.error().message);
  }
  return id;
}

}  // namespace

std::string IdentitySignerOf(const KeylessIdentity& identity) {
  return std::string(kRuleIdentityPrefix) + identity.name;
}

Result<void> ValidateRuleName(std::string_view name) {
  bool ok =
      !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      });
  if (!ok) {
    return Fail(ErrorCode::kInvalid,
                "a mirror rule's name is 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with "
                "a letter or digit");
  }
  return {};
}

std::string Rule::LocalRepository(std::string_view upstream_repo) const {
  if (target.empty()) return std::string(upstream_repo);
  return target + "/" + std::string(upstream_repo);
}

std::optional<std::string> Rule::UpstreamRepository(std::string_view local_repo) const {
  for (const auto& repo : repositories) {
    if (LocalRepository(repo) == local_repo) return repo;
  }
  return std::nullopt;
}

bool IsSignatureTag(std::string_view tag) {
  constexpr std::string_view kPrefix = "sha256-";
  if (tag.ends_with(".sig")) tag.remove_suffix(4);
  if (!tag.starts_with(kPrefix) || tag.size() != kPrefix.size() + 64) return false;
  return std::all_of(tag.begin() + kPrefix.size(), tag.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) &&
           !std::isupper(static_cast<unsigned char>(c));
  });
}

bool IsHostAndPort(std::string_view host) {
  std::string_view name = host;
  if (host.starts_with('[')) {  // an IPv6 literal, [::1]:5000
    auto close = host.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    std::string_view inside = host.substr(1, close - 1);
    if (!std::all_of(inside.begin(), inside.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return false;
    }
    std::string_view rest = host.substr(close + 1);
    return rest.empty() || (rest.size() >= 2 && rest.size() <= 6 && rest.front() == ':' &&
                            std::all_of(rest.begin() + 1, rest.end(), [](char c) {
                              return std::isdigit(static_cast<unsigned char>(c));
                            }));
  }
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return false;
    }
    name = host.substr(0, colon);
  }
  return !name.empty() && name.size() <= 253 && name.front() != '.' && name.front() != '-' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
         });
}

bool Rule::AllowsTag(std::string_view tag) const {
  if (IsSignatureTag(tag)) return false;
  std::string t(tag);
  for (const auto& pattern : tags) {
    if (pattern == t) return true;
    if (IsGlob(pattern) && fnmatch(pattern.c_str(), t.c_str(), 0) == 0) return true;
  }
  return false;
}

bool Rule::KeepsPlatform(std::string_view os, std::string_view arch,
                         std::string_view variant) const {
  if (platforms.empty()) return true;
  std::string base = std::string(os) + "/" + std::string(arch);
  for (const auto& p : platforms) {
    if (p == base) return true;
    if (!variant.empty() && p == base + "/" + std::string(variant)) return true;
  }
  return false;
}

bool Rule::HasGlobs() const { return std::any_of(tags.begin(), tags.end(), IsGlob); }

std::string Rule::Namespace() const {
  std::string first = target.empty() ? repositories.front() : target;
  return first.substr(0, first.find('/'));
}

std::string UpstreamHost(const Rule& rule) {
  if (!rule.upstream_host.empty()) return rule.upstream_host;
  if (rule.docker_hub) return "docker.io";
  std::string host = rule.url.substr(rule.url.find("://") + 3);
  return NormalizeHost(host);
}

std::string NormalizeHost(std::string_view ns) {
  std::string host(ns);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host == "index.docker.io" || host == "registry-1.docker.io") return "docker.io";
  return host;
}

Result<Rule> ParseRule(const json& j) {
  if (!j.is_object()) return Bad("the body must be a JSON object");
  KEEP_TRY(OnlyMembers(j, "the rule",
                       {"name", "upstream", "upstream_host", "ca_file", "username", "password",
                        "password_set", "repositories", "tags", "target", "platforms",
                        "reference_host", "vetting", "interval_seconds", "pull_through"}));
  Rule r;
  auto name = String(j, "name", true);
  if (!name) return name.error();
  r.name = *name;
  KEEP_TRY(ValidateRuleName(r.name));
  auto upstream = String(j, "upstream", true);
  if (!upstream) return upstream.error();
  r.upstream = *upstream;
  KEEP_TRY(ResolveUpstream(r));
  auto host = String(j, "upstream_host", false);
  if (!host) return host.error();
  if (!host->empty()) {
    if (!IsHostAndPort(*host)) {
      return Bad("\"upstream_host\" is a registry host[:port], like docker.io or ghcr.io");
    }
    r.upstream_host = NormalizeHost(*host);
    if (r.upstream_host == "docker.io") r.docker_hub = true;
  }
  for (auto [field, out] : {std::pair{"ca_file", &r.ca_file}, std::pair{"username", &r.username},
                            std::pair{"password", &r.password}, std::pair{"target", &r.target},
                            std::pair{"reference_host", &r.reference_host}}) {
    auto v = String(j, field, false);
    if (!v) return v.error();
    *out = *v;
  }
  if (!r.ca_file.empty() && r.ca_file.front() != '/') {
    return Bad("\"ca_file\" must be an absolute path on the registry's machine");
  }
  if (r.password.empty() != r.username.empty() && !j.contains("password_set")) {
    return Bad("\"username\" and \"password\" go together");
  }
  if (r.reference_host.empty()) {
    return Bad(
        "\"reference_host\" is required: the host[:port] clients pull from, which the "
        "curator's signatures name");
  }
  if (!IsHostAndPort(r.reference_host)) {
    return Bad("\"reference_host\" is a host[:port], like keep.example:5000");
  }

  if (!j.contains("repositories") || !j["repositories"].is_array() || j["repositories"].empty()) {
    return Bad("\"repositories\" must be a non-empty list of upstream repository names");
  }
  std::set<std::string> seen;
  for (const auto& item : j["repositories"]) {
    if (!item.is_string()) return Bad("\"repositories\" holds strings");
    std::string repo = item.get<std::string>();
    if (r.docker_hub && repo.find('/') == std::string::npos) repo = "library/" + repo;
    if (auto valid = ValidateRepoName(repo); !valid) {
      return Bad("repository \"" + repo.substr(0, 100) + "\": " + valid.error().message);
    }
    if (auto local = ValidateRepoName(r.LocalRepository(repo)); !local) {
      return Bad("repository \"" + repo.substr(0, 100) + "\" would land at " +
                 r.LocalRepository(repo).substr(0, 100) + ": " + local.error().message);
    }
    if (seen.insert(repo).second) r.repositories.push_back(repo);
  }
  if (!r.target.empty()) {
    if (auto valid = ValidateRepoName(r.target); !valid) {
      return Bad("\"target\": " + valid.error().message);
    }
  }
  KEEP_TRY(ValidateNamespaceName(r.Namespace()));
  // One rule lands in one namespace: the one whose existence was checked and
  // which trusts the curator for it.
  for (const auto& repo : r.repositories) {
    std::string local = r.LocalRepository(repo);
    if (local.substr(0, local.find('/')) != r.Namespace()) {
      return Bad("repositories " + r.repositories.front() + " and " + repo +
                 " would land in different namespaces; give a \"target\" (a namespace, or a "
                 "prefix in one), or one rule per namespace");
    }
  }

  if (!j.contains("tags") || !j["tags"].is_array() || j["tags"].empty()) {
    return Bad("\"tags\" must be a non-empty list of tags or globs (e.g. [\"3.20\", \"3.*\"])");
  }
  for (const auto& item : j["tags"]) {
    if (!item.is_string() || item.get<std::string>().empty() ||
        item.get<std::string>().size() > 128) {
      return Bad("\"tags\" holds tags or globs of 1 to 128 characters");
    }
    std::string tag = item.get<std::string>();
    if (!IsGlob(tag) && !IsValidTag(tag)) return Bad("\"" + tag + "\" is not a valid tag");
    if (IsSignatureTag(tag)) {
      return Bad("\"" + tag +
                 "\" is a signature tag: the mirror keeps the signatures that vet an image "
                 "with it, and signs what it keeps itself");
    }
    r.tags.push_back(tag);
  }

  if (j.contains("platforms")) {
    if (!j["platforms"].is_array()) return Bad("\"platforms\" is a list like [\"linux/amd64\"]");
    for (const auto& item : j["platforms"]) {
      std::string p = item.is_string() ? item.get<std::string>() : std::string();
      auto slashes = std::count(p.begin(), p.end(), '/');
      bool ok = (slashes == 1 || slashes == 2) && p.front() != '/' && p.back() != '/' &&
                p.find("//") == std::string::npos && p.size() <= 64 &&
                std::all_of(p.begin(), p.end(), [](char c) {
                  return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' ||
                         c == '-' || c == '.';
                });
      if (!ok) {
        return Bad("\"platforms\": \"" + p.substr(0, 64) +
                   "\" is not os/arch or os/arch/variant (e.g. linux/amd64, linux/arm64/v8)");
      }
      r.platforms.push_back(p);
    }
  }

  if (!j.contains("vetting") || !j["vetting"].is_object()) {
    return Bad("\"vetting\" is required: digests, signature and/or trust_on_first_sync");
  }
  const json& v = j["vetting"];
  KEEP_TRY(OnlyMembers(v, "\"vetting\"", {"digests", "signature", "trust_on_first_sync"}));
  if (v.contains("digests")) {
    if (!v["digests"].is_object() || v["digests"].empty()) {
      return Bad("\"vetting.digests\" maps each tag to its sha256 digest");
    }
    for (const auto& [tag, digest] : v["digests"].items()) {
      if (!IsValidTag(tag)) return Bad("\"vetting.digests\": \"" + tag + "\" is not a tag");
      if (!digest.is_string() || !Digest::Parse(digest.get<std::string>())) {
        return Bad("\"vetting.digests\": the digest of tag " + tag +
                   " must be sha256:<64 hex digits>");
      }
      if (!r.AllowsTag(tag)) {
        return Bad("\"vetting.digests\" pins tag " + tag + ", which \"tags\" does not name");
      }
      r.vetting.digests[tag] = digest.get<std::string>();
    }
  }
  if (v.contains("signature")) {
    const json& s = v["signature"];
    if (!s.is_object()) return Bad("\"vetting.signature\" must be an object");
    KEEP_TRY(OnlyMembers(s, "\"vetting.signature\"", {"keys", "identities", "threshold"}));
    const bool has_keys = s.contains("keys") && s["keys"].is_array() && !s["keys"].empty();
    const bool has_identities =
        s.contains("identities") && s["identities"].is_array() && !s["identities"].empty();
    if ((s.contains("keys") && !s["keys"].is_array()) ||
        (s.contains("identities") && !s["identities"].is_array()) ||
        (!has_keys && !has_identities)) {
      return Bad(
          "\"vetting.signature\" must list the PEM public keys (\"keys\") and/or the keyless "
          "identities (\"identities\") whose signatures vet an upstream image");
    }
    SignatureVetting sv;
    std::set<std::string> ids;
    for (const auto& pem : has_keys ? s["keys"] : json::array()) {
      if (!pem.is_string()) return Bad("\"vetting.signature.keys\" holds PEM strings");
      auto key = ParsePublicKey(pem.get<std::string>());
      if (!key) return Bad("\"vetting.signature.keys\": " + key.error().message);
      if (ids.insert(key->key_id()).second) sv.keys.push_back(*key);
    }
    for (const auto& i : has_identities ? s["identities"] : json::array()) {
      auto identity = ReadIdentity(i, sv.identities.size());
      if (!identity) return identity.error();
      if (!ids.insert(IdentitySignerOf(*identity)).second) {
        return Bad("\"vetting.signature.identities\" names identity \"" + identity->name +
                   "\" twice");
      }
      sv.identities.push_back(std::move(*identity));
    }
    const std::int64_t signers = static_cast<std::int64_t>(sv.keys.size() + sv.identities.size());
    if (s.contains("threshold")) {
      if (!s["threshold"].is_number_integer() || s["threshold"].get<std::int64_t>() < 1 ||
          s["threshold"].get<std::int64_t>() > signers) {
        return Bad(
            "\"vetting.signature.threshold\" must be between 1 and the number of "
            "distinct keys and identities (" +
            std::to_string(signers) + ")");
      }
      sv.threshold = s["threshold"].get<std::int64_t>();
    }
    r.vetting.signature = std::move(sv);
  }
  if (v.contains("trust_on_first_sync")) {
    if (!v["trust_on_first_sync"].is_boolean()) {
      return Bad("\"vetting.trust_on_first_sync\" must be true or false");
    }
    r.vetting.trust_on_first_sync = v["trust_on_first_sync"].get<bool>();
  }
  if (r.vetting.digests.empty() && !r.vetting.signature && !r.vetting.trust_on_first_sync) {
    return Bad(
        "\"vetting\" names no rule: give digests, signature or trust_on_first_sync; "
        "a mirror never takes upstream images unvetted");
  }

  if (j.contains("interval_seconds")) {
    if (!j["interval_seconds"].is_number_integer() ||
        j["interval_seconds"].get<std::int64_t>() < 0 ||
        (j["interval_seconds"].get<std::int64_t>() > 0 &&
         j["interval_seconds"].get<std::int64_t>() < 60)) {
      return Bad("\"interval_seconds\" is 0 (sync on demand only) or at least 60");
    }
    r.interval_seconds = j["interval_seconds"].get<std::int64_t>();
  }
  if (j.contains("pull_through")) {
    if (!j["pull_through"].is_boolean()) return Bad("\"pull_through\" must be true or false");
    r.pull_through = j["pull_through"].get<bool>();
  }
  return r;
}

nlohmann::json RuleToJson(const Rule& r, bool include_password) {
  json j = {{"name", r.name},
            {"upstream", r.upstream},
            {"repositories", r.repositories},
            {"tags", r.tags},
            {"target", r.target},
            {"reference_host", r.reference_host},
            {"interval_seconds", r.interval_seconds},
            {"pull_through", r.pull_through}};
  if (!r.ca_file.empty()) j["ca_file"] = r.ca_file;
  if (!r.upstream_host.empty()) j["upstream_host"] = r.upstream_host;
  if (!r.platforms.empty()) j["platforms"] = r.platforms;
  if (!r.username.empty()) j["username"] = r.username;
  if (include_password && !r.password.empty()) j["password"] = r.password;
  if (!r.username.empty()) j["password_set"] = !r.password.empty();
  json v = json::object();
  if (!r.vetting.digests.empty()) v["digests"] = r.vetting.digests;
  if (r.vetting.signature) {
    json keys = json::array();
    for (const auto& k : r.vetting.signature->keys) keys.push_back(k.pem());
    v["signature"] = {{"keys", keys}, {"threshold", r.vetting.signature->threshold}};
    if (!r.vetting.signature->identities.empty()) {
      json identities = json::array();
      for (const auto& id : r.vetting.signature->identities) {
        json one = {{"name", id.name}, {"issuer", id.issuer}};
        if (id.subject_regex.empty()) {
          one["subject"] = id.subject;
        } else {
          one["subject_regex"] = id.subject_regex;
        }
        if (!id.extensions.empty()) one["extensions"] = id.extensions;
        identities.push_back(std::move(one));
      }
      v["signature"]["identities"] = std::move(identities);
    }
  }
  if (r.vetting.trust_on_first_sync) v["trust_on_first_sync"] = true;
  j["vetting"] = v;
  return j;
}

}  // namespace keep::mirror
