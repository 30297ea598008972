// mirror/rule.h — a mirror rule: which upstream images are mirrored into
// which local repositories, and how they are vetted (docs/mirror.md).
//
// A rule is JSON (the admin API's body, and what the database stores with
// the credentials taken out):
//
//   {"name": "alpine",
//    "upstream": "docker.io" | "https://registry.example[:port]" | "http://...",
//    "upstream_host": "docker.io",                (optional) the host clients name for
//                                                 this upstream, for one that stands in
//                                                 for another (an internal Docker Hub cache)
//    "ca_file": "/etc/keep/upstream-ca.pem",      (optional)
//    "username": "...", "password": "...",        (optional; never shown back)
//    "repositories": ["library/alpine"],          upstream names ("alpine" on docker.io
//                                                 means "library/alpine")
//    "tags": ["3.20", "3.19.*"],                  names or globs (* ? [...])
//    "target": "mirror",                          local prefix: mirror/library/alpine
//    "platforms": ["linux/amd64", "linux/arm64"], (optional) the platforms of an index
//                                                 kept; the index itself is kept whole
//    "reference_host": "keep.example:5000",       the host named in curator signatures
//    "vetting": {"digests": {"3.20": "sha256:..."},         pinned per tag
//                "signature": {"keys": ["-----BEGIN PUBLIC KEY-----..."],
//                              "identities": [{"issuer": "https://token.actions...",
//                                              "subject_regex": "https://github.com/..."}],
//                              "threshold": 1},             upstream signatures (cosign
//                                                           tag, referrers, bundles), by
//                                                           key or keyless identity
//                "trust_on_first_sync": true},              later changes held
//    "interval_seconds": 3600,                    0: only on demand
//    "pull_through": false}
//
// At least one vetting rule is required; when several are given, all must
// hold. Parsing is strict: an unknown member is refused, naming it, so that
// a misspelt vetting rule never silently vets nothing.
#pragma once

#include "core/error.h"
#include "trust/keyless.h"
#include "trust/keys.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keep::mirror {

struct SignatureVetting {
  std::vector<PublicKey> keys;  // distinct by key id
  // Keyless signers (Fulcio certificates, logged in Rekor), checked against
  // the trust roots installed in Keep (keepctl trust-root set), as a
  // namespace's identities are.
  std::vector<KeylessIdentity> identities;  // distinct by name
  std::int64_t threshold = 1;               // distinct keys and identities that must have signed
};

// How a rule's identity counts among the signers of an upstream image
// (SignatureFindings::signers).
inline constexpr std::string_view kRuleIdentityPrefix = "identity:";
[[nodiscard]] std::string IdentitySignerOf(const KeylessIdentity& identity);

struct Vetting {
  std::map<std::string, std::string> digests;  // tag -> "sha256:..."
  std::optional<SignatureVetting> signature;
  bool trust_on_first_sync = false;
};

struct Rule {
  std::string name;
  std::string upstream;       // as given
  std::string url;            // the API endpoint: "https://registry-1.docker.io"
  bool docker_hub = false;    // Docker Hub, or a stand-in for it (upstream_host docker.io)
  std::string upstream_host;  // as given, or empty
  std::string ca_file;
  std::string username;
  std::string password;                   // never stored in `spec`; sealed (mirror/secrets.h)
  std::vector<std::string> repositories;  // upstream names, library/ added for Docker Hub
  std::vector<std::string> tags;
  std::string target;
  std::vector<std::string> platforms;  // "os/arch[/variant]"; empty: all
  std::string reference_host;
  Vetting vetting;
  std::int64_t interval_seconds = 0;
  bool pull_through = false;

  // Where an upstream repository lands: target + "/" + name (or the name
  // alone when target is empty).
  std::string LocalRepository(std::string_view upstream_repo) const;
  // The upstream repository a local one mirrors, when this rule maps it.
  std::optional<std::string> UpstreamRepository(std::string_view local_repo) const;
  // Whether a tag is one the rule names (exactly, or by a glob); never a
  // signature tag (IsSignatureTag): the mirror signs what it keeps itself.
  bool AllowsTag(std::string_view tag) const;
  // Whether an index's child for this platform is kept ("os/arch[/variant]";
  // a rule naming os/arch keeps every variant of it).
  bool KeepsPlatform(std::string_view os, std::string_view arch, std::string_view variant) const;
  // Whether any tag pattern is a glob (the upstream's tag list is needed).
  bool HasGlobs() const;
  // The namespace its repositories land in.
  std::string Namespace() const;
};

// A tag that holds signatures, not an image: cosign's "sha256-<hex>.sig" and
// the referrers API's fallback "sha256-<hex>".
bool IsSignatureTag(std::string_view tag);

// "host[:port]": letters, digits, '.' and '-', and an optional port.
bool IsHostAndPort(std::string_view host);

// How a repository name a client asked for maps onto a rule (see
// Service::Resolve): the upstream repository and where it is kept here.
struct Mapping {
  std::string rule;
  std::string upstream_repo;
  std::string local_repo;
  std::string ns;  // the ?ns= the mapping applied (echoed as OCI-Namespace), or empty
  bool pull_through = false;
  // Mapped because a Docker Hub rule mirrors the name as Docker Hub calls
  // it (dockerd's registry-mirrors), with no ?ns=: a local namespace of that
  // name comes first (the caller checks).
  bool by_docker_hub_name = false;
};

// The host a client's ?ns= names for the rule's upstream: "docker.io" for
// Docker Hub, else the URL's host[:port].
std::string UpstreamHost(const Rule& rule);
// A ?ns= value as UpstreamHost writes it (lower case; Docker Hub's other
// names are docker.io).
std::string NormalizeHost(std::string_view ns);

// Parses and checks a rule (kInvalid naming the member and what it must be).
// `password` and `username` are taken from the JSON when present.
[[nodiscard]] Result<Rule> ParseRule(const nlohmann::json& j);

// The rule as JSON without the password: what is stored as its spec and what
// the admin API shows ("password_set" says whether it has one).
nlohmann::json RuleToJson(const Rule& rule, bool include_password = false);

// Whether `name` is a valid rule name: 1-64 of [a-z0-9._-], starting with a
// letter or digit.
[[nodiscard]] Result<void> ValidateRuleName(std::string_view name);

}  // namespace keep::mirror
