// The command table: every command, its arguments, flags and help, in one place.
#include "cli/commands.h"
#include "cli/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

namespace keep::cli {
namespace {

using F = FlagSpec;

const F kPasswordStdin{"password-stdin", F::kBool, "", "read the password from standard input"};
const F kPassphraseStdin{"passphrase-stdin", F::kBool, "",
                         "read the private key's passphrase from standard input"};

const std::vector<FlagSpec> kMirrorFlags = {
    {"upstream", F::kValue, "HOST|URL",
     "the upstream registry: docker.io, ghcr.io, host:port, https://..."},
    {"repo", F::kList, "NAME", "an upstream repository to mirror; repeat for more"},
    {"tag", F::kList, "TAG", "a tag or glob (3.20, 3.*) to mirror; repeat for more"},
    {"target", F::kValue, "PREFIX", "where images land: TARGET/REPO (its namespace must exist)"},
    {"platform", F::kList, "OS/ARCH",
     "keep only this platform of a multi-platform image (linux/amd64); repeat for more"},
    {"pin", F::kList, "TAG=DIGEST", "vetting: the tag must have this digest upstream"},
    {"signed-by", F::kList, "KEY.pem",
     "vetting: upstream cosign signatures by this public key; repeat for more"},
    {"threshold", F::kValue, "N", "how many --signed-by keys must have signed (default 1)"},
    {"trust-on-first-sync", F::kBool, "",
     "vetting: keep the first digest seen; hold later changes for keepctl mirror approve"},
    {"interval", F::kValue, "DURATION", "sync on a schedule, e.g. 6h (default: on demand)"},
    {"pull-through", F::kBool, "", "fetch allowed tags on a pull that misses"},
    {"upstream-ca", F::kValue, "FILE", "CA certificates of the upstream (a path on the server)"},
    {"upstream-host", F::kValue, "HOST",
     "the host clients name for the upstream (?ns=), e.g. docker.io for a Docker Hub cache"},
    {"username", F::kValue, "NAME", "the upstream account (the password comes from stdin)"},
    kPasswordStdin,
    {"reference-host", F::kValue, "HOST[:PORT]",
     "the registry host named in the curator's signatures (default: the server's)"},
};

const std::vector<CommandSpec> kCommands = {
    {"",
     "login",
     "SERVER_URL",
     0,
     1,
     {{"user", F::kValue, "NAME", "the account to sign in as", true}, kPasswordStdin},
     "Check a user's password with the registry and save the credentials",
     "The password comes from stdin with --password-stdin, else from the environment\n"
     "variable KEEPCTL_PASSWORD, else the terminal asks for it. Nothing is saved unless\n"
     "the registry accepts it. Give --ca with the registry's certificate when it is\n"
     "self-signed (keepd prints its path when it starts); its absolute path is saved.\n"
     "SERVER_URL may instead be given with --server. A robot may log in too: it may\n"
     "sign and verify within its scopes. In CI, skip login: KEEPCTL_USER and\n"
     "KEEPCTL_PASSWORD, with KEEPCTL_SERVER (or --server) and KEEPCTL_CA (or --ca), stand\n"
     "in for saved credentials for every command.\n",
     Login},
    {"", "logout", "", 0, 0, {}, "Delete the saved credentials", "", Logout},
    {"", "whoami", "", 0, 0, {}, "Show the signed-in account and its namespaces", "", Whoami},

    {"user",
     "add",
     "NAME",
     1,
     1,
     {{"admin", F::kBool, "", "make the user a global admin"}, kPasswordStdin},
     "Create a user",
     "Without --password-stdin the registry generates a password; it is printed once.\n",
     UserAdd},
    {"user", "list", "", 0, 0, {}, "List the users", "", UserList},
    {"user", "show", "NAME", 1, 1, {}, "Show one user", "", UserShow},
    {"user",
     "passwd",
     "NAME",
     1,
     1,
     {kPasswordStdin},
     "Set a user's password",
     "Without --password-stdin the registry generates a password; it is printed once.\n",
     UserPasswd},
    {"user",
     "disable",
     "NAME",
     1,
     1,
     {},
     "Disable a user: no more logins; tokens issued before stop working",
     "",
     UserDisable},
    {"user", "enable", "NAME", 1, 1, {}, "Enable a disabled user", "", UserEnable},

    {"robot",
     "create",
     "NAME",
     1,
     1,
     {{"scope", F::kList, "NS:ACTIONS",
       "a namespace and what the robot may do in it: pull, push, delete (comma-separated);\n"
       "repeat for more namespaces, e.g. --scope acme:pull,push",
       true},
      {"expires", F::kValue, "DURATION",
       "how long the robot lives, e.g. 90d, 12h, 30m (default 90d, at most 10 years)"}},
     "Create a robot account for a machine; its secret is printed once",
     "The robot signs in as robot+NAME with the secret printed.\n",
     RobotCreate},
    {"robot", "list", "", 0, 0, {}, "List the robot accounts you may manage", "", RobotList},
    {"robot",
     "revoke",
     "NAME",
     1,
     1,
     {},
     "Delete a robot account (NAME or robot+NAME)",
     "",
     RobotRevoke},

    {"namespace",
     "create",
     "NAME",
     1,
     1,
     {{"anonymous-pull", F::kBool, "", "let anyone pull from it without signing in"}},
     "Create a namespace (the first component of repository names)",
     "",
     NamespaceCreate},
    {"namespace",
     "list",
     "",
     0,
     0,
     {},
     "List the namespaces you are a member of (all for admins)",
     "",
     NamespaceList},
    {"namespace", "show", "NAME", 1, 1, {}, "Show a namespace and its members", "", NamespaceShow},
    {"namespace", "delete", "NAME", 1, 1, {}, "Delete an empty namespace", "", NamespaceDelete},
    {"namespace",
     "set",
     "NAME",
     1,
     1,
     {{"anonymous-pull", F::kBool, "=true|false", "let anyone pull without signing in, or not",
       true}},
     "Change a namespace's settings",
     "",
     NamespaceSet},

    {"member",
     "add",
     "NS USER",
     2,
     2,
     {{"role", F::kValue, "ROLE",
       "reader (pull), publisher (pull, push, delete) or maintainer\n"
       "(publisher, plus members and settings)",
       true}},
     "Make a user a member of a namespace, or change their role",
     "",
     MemberAdd},
    {"member", "remove", "NS USER", 2, 2, {}, "Remove a user from a namespace", "", MemberRemove},
    {"member", "list", "NS", 1, 1, {}, "List the members of a namespace", "", MemberList},

    {"key",
     "generate",
     "",
     0,
     0,
     {{"out", F::kValue, "PREFIX",
       "write the private key to PREFIX.key (mode 0600) and the public key to\n"
       "PREFIX.pub; neither may exist yet",
       true},
      {"algorithm", F::kValue, "ALG", "ed25519 (default) or ecdsa-p256"},
      kPassphraseStdin},
     "Generate a key pair to sign images with; prints its key id",
     "Works offline: no login needed. With --passphrase-stdin the private key is\n"
     "encrypted (PKCS#8, scrypt and AES-256); without it, it is stored in the clear,\n"
     "readable by you alone. Give PREFIX.pub to `keepctl key add`; keep PREFIX.key.\n",
     KeyGenerate},
    {"key",
     "add",
     "NS",
     1,
     1,
     {{"name", F::kValue, "NAME", "what to call the key, e.g. its publisher", true},
      {"file", F::kValue, "FILE",
       "the public key: PEM (PREFIX.pub of `keepctl key generate`, cosign.pub), or\n"
       "an armored OpenPGP key (gpg --armor --export FPR)",
       true}},
     "Trust a publisher's public key for signatures in a namespace",
     "Ed25519 and ECDSA P-256 PEM keys sign cosign signatures; OpenPGP keys sign GPG\n"
     "signatures (podman push --sign-by, skopeo copy --sign-by). keepctl refuses to\n"
     "send a file that holds a private key.\n",
     KeyAdd},
    {"key", "list", "NS", 1, 1, {}, "List the publisher keys of a namespace", "", KeyList},
    {"key",
     "show",
     "NS KEY_ID",
     2,
     2,
     {},
     "Show one publisher key, with its PEM",
     "KEY_ID may be shortened to a prefix that names one key.\n",
     KeyShow},
    {"key",
     "revoke",
     "NS KEY_ID",
     2,
     2,
     {},
     "Stop trusting a key: its signatures no longer count",
     "The key stays listed as revoked and cannot be added again. KEY_ID may be\n"
     "shortened to a prefix that names one key.\n",
     KeyRevoke},

    {"identity",
     "add",
     "NS NAME",
     2,
     2,
     {{"issuer", F::kValue, "URL",
       "the OIDC issuer, exactly (https://token.actions.githubusercontent.com)", true},
      {"subject", F::kValue, "SUBJECT",
       "the certificate's subject (SubjectAltName URI or email), exactly"},
      {"subject-regexp", F::kValue, "REGEX",
       "or a regular expression (ECMAScript, at most 256 characters) that must\n"
       "match the subject whole"},
      {"extension", F::kList, "NAME=VALUE",
       "a Fulcio certificate extension the certificate must carry with this\n"
       "value, by name (source-repository-uri, source-repository-ref,\n"
       "build-signer-uri, ...) or dotted OID; repeat for more"}},
     "Trust a keyless signer (an OIDC issuer and subject) for signatures in a namespace",
     "A keyless signature (cosign sign without --key) counts when its Fulcio\n"
     "certificate chains to an installed trust root (`keepctl trust-root set`), its\n"
     "Rekor entry verifies, and the certificate names this issuer and subject. NAME\n"
     "is the signer: it counts once toward the policy's threshold.\n",
     IdentityAdd},
    {"identity",
     "list",
     "NS",
     1,
     1,
     {},
     "List the keyless identities of a namespace",
     "",
     IdentityList},
    {"identity", "show", "NS NAME", 2, 2, {}, "Show one keyless identity", "", IdentityShow},
    {"identity",
     "remove",
     "NS NAME",
     2,
     2,
     {},
     "Stop trusting a keyless identity: its signatures no longer count",
     "The identity stays listed as revoked and its name cannot be used again; what\n"
     "only it signed is quarantined at once.\n",
     IdentityRemove},

    {"trust-root",
     "set",
     "NAME FILE",
     2,
     2,
     {},
     "Install a sigstore trusted_root.json that keyless signatures are checked against",
     "Replaces the trust root of that name, if any. Several may be installed (the\n"
     "public-good instance and a private sigstore). To rotate, set the new root under\n"
     "a new name, then remove the old one. Needs an admin.\n",
     TrustRootSet},
    {"trust-root", "list", "", 0, 0, {}, "List the installed trust roots", "", TrustRootList},
    {"trust-root",
     "show",
     "NAME",
     1,
     1,
     {},
     "Print an installed trust root's JSON",
     "",
     TrustRootShow},
    {"trust-root",
     "remove",
     "NAME",
     1,
     1,
     {},
     "Remove an installed trust root",
     "",
     TrustRootRemove},

    {"policy", "show", "NS", 1, 1, {}, "Show the signature policy of a namespace", "", PolicyShow},
    {"policy",
     "set",
     "NS",
     1,
     1,
     {{"mode", F::kValue, "MODE",
       "quarantine: unsigned images are held back from pullers until signed;\n"
       "strict: a tag push needs a valid signature stored first;\n"
       "open: no signature needed"},
      {"threshold", F::kValue, "N", "how many distinct trusted keys must sign (1-16)"},
      {"quarantine-ttl", F::kValue, "DURATION",
       "how long an unsigned image is kept, e.g. 24h, 7d (60s to 365d)"}},
     "Change the signature policy of a namespace",
     "Only the settings given change; give at least one.\n",
     PolicySet},

    {"",
     "sign",
     "REPO:TAG|REPO@DIGEST",
     1,
     1,
     {{"key", F::kValue, "FILE", "the private key (PREFIX.key of `keepctl key generate`)", true},
      kPassphraseStdin,
      {"manifest-file", F::kValue, "FILE",
       "sign the manifest in FILE, which need not be pushed yet (for strict mode:\n"
       "sign, then push the tag)"},
      {"format", F::kValue, "cosign|bundle",
       "cosign (default): the tag sha256-<hex>.sig, as cosign v2 writes;\n"
       "bundle: a sigstore bundle attached as an OCI 1.1 referrer, as cosign v3 writes"}},
     "Sign an image and store the signature in the registry, as cosign does",
     "The manifest's digest comes from the registry (or from --manifest-file). The\n"
     "signature is pushed to the tag sha256-<hex>.sig of the same repository, next to\n"
     "those of other keys (with --format bundle, as a referrer of the manifest of\n"
     "its own); the registry refuses it unless the key is trusted in the\n"
     "namespace (`keepctl key add`). An encrypted key's passphrase comes from\n"
     "--passphrase-stdin, else KEEPCTL_KEY_PASSPHRASE, else the terminal.\n",
     Sign},
    {"",
     "verify",
     "REPO:TAG|REPO@DIGEST",
     1,
     1,
     {},
     "Show who signed an image and whether that meets its namespace's policy",
     "Exit status 0 when the image is trusted, 1 when it is not.\n",
     Verify},

    {"",
     "verify-bundle",
     "FILE|sha256:DIGEST",
     1,
     1,
     {{"bundle", F::kValue, "FILE", "the sigstore bundle (v0.1 to v0.3)", true},
      {"certificate-identity", F::kValue, "SUBJECT",
       "the signing certificate's subject (SubjectAltName URI or email), exactly"},
      {"certificate-identity-regexp", F::kValue, "REGEX",
       "or a regular expression that must match the subject whole"},
      {"certificate-oidc-issuer", F::kValue, "URL", "the certificate's OIDC issuer, exactly"},
      {"key", F::kValue, "FILE", "verify with this PEM public key instead of an identity"},
      {"trusted-root", F::kValue, "FILE",
       "sigstore's trusted_root.json (default: KEEPCTL_TRUSTED_ROOT)"},
      {"staging", F::kBool, "", "accepted for the conformance protocol; the trust root decides"}},
     "Verify a sigstore bundle of a file or digest, offline, as the registry does",
     "The verify half of sigstore-conformance's CLI protocol. Checks the signature,\n"
     "that its transparency-log entries (Rekor v1 or v2) are for this very artifact,\n"
     "signature and certificate, that a log of the trust root vouches for them\n"
     "(signed entry timestamp, inclusion proof and signed checkpoint), that its RFC\n"
     "3161 timestamps verify with a timestamp authority of the trust root, that the\n"
     "certificate chains to a Fulcio CA of the trust root at every signed time (a\n"
     "signed entry timestamp's, a timestamp's: an inclusion proof alone gives no\n"
     "time) with a valid SCT, and that it names the identity given. Nothing is\n"
     "fetched: it works air-gapped.\n"
     "With --key, the key vouches for the signature: a bundle with no\n"
     "transparency-log entry verifies without any log, and one whose entries have\n"
     "an inclusion proof but no signed entry timestamp verifies without a time.\n"
     "Exit status 0 when it verifies, 1 with the failed check on stderr otherwise.\n",
     VerifyBundle},

    {"repo",
     "list",
     "[NS]",
     0,
     1,
     {},
     "List the repositories you may pull from, or those of one namespace",
     "Reads the registry's catalog (/v2/_catalog), every page of it. A reader sees\n"
     "only repositories that hold something the namespace's policy lets them pull.\n",
     RepoList},
    {"tag",
     "list",
     "REPO",
     1,
     1,
     {},
     "List the tags of a repository",
     "Reads /v2/REPO/tags/list, every page of it. A reader sees only the tags of\n"
     "images the namespace's policy trusts.\n",
     TagList},
    {"tag",
     "delete",
     "REPO:TAG",
     1,
     1,
     {},
     "Remove a tag; the manifest it named stays",
     "Deletes the tag alone (DELETE /v2/REPO/manifests/TAG), so no confirmation is\n"
     "asked: the manifest, its other tags and its signatures stay, and the digest\n"
     "printed can be tagged again. REPO:TAG@DIGEST deletes the tag only while it\n"
     "names that digest. Garbage collection (`keepctl gc`) removes a\n"
     "manifest no tag names once it is older than the grace period. Needs delete\n"
     "in the namespace (publisher or maintainer).\n",
     TagDelete},
    {"image",
     "show",
     "REPO:TAG|REPO@DIGEST",
     1,
     1,
     {},
     "Show an image: digest, media type, platforms, size, signatures, trust",
     "size counts the image's manifests, config and layers, each blob once (the\n"
     "platforms of an index share some). trusted is the registry's verdict under\n"
     "the namespace's policy, with the reason when it is no; unlike `keepctl\n"
     "verify`, the exit status is 0 either way.\n",
     ImageShow},

    {"quarantine",
     "list",
     "NS",
     1,
     1,
     {},
     "List the images of a namespace that its policy does not trust yet",
     "REMOVED_AFTER is when garbage collection removes a tagged one still unsigned.\n",
     QuarantineList},
    {"quarantine",
     "show",
     "REPO:TAG|REPO@DIGEST",
     1,
     1,
     {},
     "Show who signed a quarantined image, and what its policy needs",
     "",
     Verify},
    {"quarantine",
     "drop",
     "REPO@DIGEST",
     1,
     1,
     {},
     "Delete a quarantined image now (maintainers of its namespace)",
     "",
     QuarantineDrop},

    {"",
     "gc",
     "",
     0,
     0,
     {{"dry-run", F::kBool, "", "delete nothing; list what a run would delete"},
      {"grace", F::kValue, "DURATION",
       "keep untagged manifests and unreferenced blobs younger than this, e.g. 1h;\n"
       "0s collects them all (default: the server's gc.untagged_grace_hours)"}},
     "Delete unreferenced manifests and blobs (admins only)",
     "Runs while the registry serves; a second run at the same time is refused.\n",
     Gc},
    {"",
     "fsck",
     "",
     0,
     0,
     {{"repair", F::kBool, "", "move corrupt blobs to quarantine and drop links to missing ones"}},
     "Check every blob's digest and every manifest's references (admins only)",
     "Exit status 0 when nothing is wrong (or was repaired), 1 when problems remain.\n"
     "On a terminal its progress is drawn on stderr (KEEPCTL_PROGRESS=always: as lines\n"
     "elsewhere too).\n",
     Fsck},
    {"",
     "backup",
     "",
     0,
     0,
     {},
     "Copy the metadata database, as of now, to a file on the server (admins only)",
     "keepd holds its metadata.db exclusively while it runs; this is how to copy it then.\n"
     "The copy goes to <data_dir>/backups/ on the server; its path is printed. Copy the\n"
     "blob files (<data_dir>/blobs/) after it: they never change once written.\n"
     "To restore: stop keepd, put the copy in place of metadata.db, remove\n"
     "metadata.db-wal if present, start keepd.\n",
     Backup},
    {"",
     "audit",
     "",
     0,
     0,
     {{"namespace", F::kValue, "NS",
       "only the events of this namespace (enough for its maintainers)"},
      {"since", F::kValue, "WHEN", "only events since then: a time ago (30m, 1h, 2d) or RFC 3339"},
      {"until", F::kValue, "WHEN", "only events before then, as --since"},
      {"user", F::kValue, "USER", "only what this user or robot did (anonymous, keepd: those)"},
      {"action", F::kValue, "ACTION", "only this action (key.add), or a family of them (key.*)"},
      {"limit", F::kValue, "N", "at most N events (1-1000; default 100)"},
      {"before", F::kValue, "ID", "only events older than event ID (the next page)"}},
     "Show the audit log: who did what, when and from where",
     "Newest first. Every push, refused pull, signature accepted or refused, and\n"
     "change made through the admin API (keys, identities, trust roots, policies,\n"
     "members, users, robots, namespaces, mirrors, gc). Admins see everything;\n"
     "maintainers of a namespace see its events with --namespace. Refused pulls\n"
     "that repeat within a minute are one row with a count.\n"
     "Example: keepctl audit --namespace acme --since 1h --action key.*\n",
     AuditLog},

    {"mirror", "add", "NAME", 1, 1, kMirrorFlags,
     "Mirror upstream images into a namespace, vetted and signed by the curator key",
     "Needs --upstream, --repo, --tag, --target and at least one vetting rule: --pin,\n"
     "--signed-by or --trust-on-first-sync (all given must hold). The namespace of\n"
     "--target must exist; it is made to trust the curator key (keepctl mirror key).\n"
     "--upstream is a registry host (docker.io, ghcr.io, host:port) or an https:// URL;\n"
     "on docker.io a one-word --repo such as alpine means library/alpine. An image\n"
     "lands at TARGET/REPO. Admins only.\n"
     "Example: keepctl mirror add alpine --upstream docker.io --repo alpine --tag 3.20\n"
     "  --target mirror --trust-on-first-sync\n",
     MirrorAdd},
    {"mirror",
     "list",
     "",
     0,
     0,
     {},
     "List the mirror rules and how their last sync went",
     "",
     MirrorList},
    {"mirror",
     "show",
     "NAME",
     1,
     1,
     {},
     "Show a mirror rule and each tag's state: synced, refused or held, and why",
     "",
     MirrorShow},
    {"mirror", "edit", "NAME", 1, 1, kMirrorFlags, "Change a mirror rule",
     "Only the flags given change; a repeated flag (--repo, --tag, --pin, --signed-by)\n"
     "replaces the whole list.\n",
     MirrorEdit},
    {"mirror",
     "remove",
     "NAME",
     1,
     1,
     {},
     "Remove a mirror rule (what it synced stays)",
     "",
     MirrorRemove},
    {"mirror",
     "sync",
     "NAME",
     1,
     1,
     {},
     "Sync a mirror rule now, showing each image and layer as it is fetched",
     "Ends with a summary. Exit status 0 when every tag was synced or unchanged, 1 when\n"
     "any was refused, held for approval or could not be fetched.\n",
     MirrorSync},
    {"mirror",
     "approve",
     "NAME REPOSITORY:TAG",
     2,
     2,
     {},
     "Accept the changed upstream digest a trust-on-first-sync rule holds for a tag",
     "Maintainers of the namespace. The next sync stores the approved digest.\n",
     MirrorApprove},
    {"mirror",
     "key",
     "",
     0,
     0,
     {},
     "Print the curator's public key (PEM)",
     "Everything the mirror stores is signed with it, in cosign's layout: verify with\n"
     "cosign verify --key, or a skopeo/podman sigstoreSigned policy.\n",
     MirrorKey},

    {"",
     "completion",
     "bash|zsh|fish",
     1,
     1,
     {},
     "Print a shell completion script for keepctl's commands and flags",
     "bash: source <(keepctl completion bash), or save it as\n"
     "/etc/bash_completion.d/keepctl. zsh: source <(keepctl completion zsh), or save it\n"
     "as _keepctl in a directory of $fpath. fish: keepctl completion fish | source, or\n"
     "save it as ~/.config/fish/completions/keepctl.fish. Works offline.\n",
     Completion},
    {"",
     "man",
     "",
     0,
     0,
     {},
     "Print keepctl's manual page (roff)",
     "Read it with `keepctl man | man -l -`; install it with\n"
     "`keepctl man > /usr/local/share/man/man1/keepctl.1`. Works offline.\n",
     ManPage},
};

}  // namespace

std::span<const CommandSpec> CommandTable() { return kCommands; }

std::string PathOf(std::initializer_list<std::string_view> segments) {
  std::string out;
  for (std::string_view s : segments) out += "/" + PathSegment(s);
  return out;
}

Result<std::int64_t> ParseDuration(const std::string& text, std::string_view flag,
                                   const std::string& command, bool allow_zero) {
  static const std::map<char, std::int64_t> kUnits = {
      {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  auto bad = Usage("bad " + std::string(flag) + " \"" + text +
                       "\": expected a duration such as 90d, 12h or 30m",
                   command);
  std::int64_t total = 0;
  std::size_t i = 0;
  if (text.empty()) return bad;
  while (i < text.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000) return bad;
    }
    if (digits == 0 || i == text.size() || !kUnits.contains(text[i])) return bad;
    total += n * kUnits.at(text[i++]);
  }
  if (total < 0 || (total == 0 && !allow_zero)) return bad;
  return total;
}

std::string FormatDuration(std::int64_t seconds) {
  if (seconds <= 0) return std::to_string(seconds) + "s";
  static constexpr std::pair<std::int64_t, char> kUnits[] = {
      {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  std::string out;
  for (auto [size, unit] : kUnits) {
    if (seconds >= size) out += std::to_string(seconds / size) + unit;
    seconds %= size;
  }
  return out;
}

Result<std::string> ReadSmallFile(const std::string& path, std::size_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Failed("cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      return Failed("cannot read " + path + ": " + why);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > limit) {
      ::close(fd);
      return Failed(path + " is larger than " + std::to_string(limit) + " bytes");
    }
  }
  ::close(fd);
  return data;
}

namespace {

// CI systems pass secrets in the environment: KEEPCTL_USER and
// KEEPCTL_PASSWORD (a robot's name and secret, typically) with the server in
// --server or KEEPCTL_SERVER, and its CA in --ca or KEEPCTL_CA, stand in for
// a saved login. nullopt when they are not set.
std::optional<Result<AdminClient>> ConnectFromEnvironment(const Invocation& inv) {
  std::string user = EnvOrEmpty("KEEPCTL_USER");
  std::string password = EnvOrEmpty("KEEPCTL_PASSWORD");
  if (user.empty()) return std::nullopt;
  std::string server = inv.globals.server.value_or(EnvOrEmpty("KEEPCTL_SERVER"));
  if (password.empty() || server.empty()) {
    return Result<AdminClient>(Failed(
        "KEEPCTL_USER is set, so keepctl takes its credentials from the environment, but " +
            std::string(password.empty() ? "KEEPCTL_PASSWORD" : "the server") + " is missing",
        "set KEEPCTL_PASSWORD, and KEEPCTL_SERVER or --server; or unset KEEPCTL_USER to use "
        "the saved login"));
  }
  auto url = ParseServerUrl(server);
  if (!url) return Result<AdminClient>(url.error());
  std::string ca = inv.globals.ca.value_or(EnvOrEmpty("KEEPCTL_CA"));
  if (!ca.empty()) ca = std::filesystem::absolute(ca).string();
  return AdminClient::Open({*url, ca, user, password});
}

}  // namespace

Result<AdminClient> ConnectSaved(const Invocation& inv) {
  if (auto from_env = ConnectFromEnvironment(inv)) return std::move(*from_env);
  auto path = CredentialsPath();
  if (!path) return path.error();
  auto saved = LoadCredentials(*path);
  if (!saved) return saved.error();
  if (!*saved) {
    return Failed("not logged in (there is no " + path->string() + ")",
                  "run `keepctl login SERVER_URL --user NAME` first");
  }
  const Credentials& c = **saved;
  auto url = ParseServerUrl(c.server);
  if (!url) return Failed(path->string() + " holds a bad server URL: " + url.error().message);
  if (inv.globals.server) {
    auto given = ParseServerUrl(*inv.globals.server);
    if (!given) return given.error();
    if (given->ToString() != url->ToString()) {
      return Failed("the saved credentials are for " + url->ToString() + ", not " +
                        given->ToString(),
                    "run `keepctl login " + given->ToString() +
                        " --user NAME` (KEEPCTL_CONFIG picks another credentials file)");
    }
  }
  std::string ca = inv.globals.ca ? std::filesystem::absolute(*inv.globals.ca).string() : c.ca;
  return AdminClient::Open({*url, ca, c.user, c.password});
}

}  // namespace keep::cli
