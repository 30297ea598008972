#include "cli/image_ref.h"

#include "core/digest.h"
#include "core/names.h"

#include <algorithm>
#include <cctype>

namespace keep::cli {
namespace {

constexpr std::string_view kDockerTransport = "docker://";

// Docker Hub's names: a reference there is not this server's.
constexpr std::string_view kDockerHub[] = {"docker.io", "index.docker.io",
                                           "registry-1.docker.io"};

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Docker's rule: the first component names a host when it holds '.' or ':',
// an upper-case letter (no repository name does), or is "localhost".
bool IsHost(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost" ||
         Lower(component) != component;
}

// "docker.io", "docker.io:443" → true.
bool IsDockerHub(std::string_view host) {
  const std::string name = Lower(host.substr(0, host.rfind(':')));
  return std::find(std::begin(kDockerHub), std::end(kDockerHub), name) != std::end(kDockerHub);
}

}  // namespace

std::string ImageRef::ToString() const {
  std::string out = repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<ReferenceParts> SplitReference(std::string_view text, const std::string& command) {
  const std::string given(text);
  if (text.rfind(kDockerTransport, 0) == 0) text.remove_prefix(kDockerTransport.size());
  if (text.empty()) return Usage("no image reference given", command);
  ReferenceParts parts;
  std::string name(text);
  if (auto at = name.find('@'); at != std::string::npos) {
    parts.image.digest = name.substr(at + 1);
    name.resize(at);
    if (!Digest::Parse(parts.image.digest)) {
      return Usage("bad digest \"" + parts.image.digest + "\" in " + given, command);
    }
  }
  if (auto slash = name.find('/'); slash != std::string::npos && IsHost(name.substr(0, slash))) {
    parts.host = name.substr(0, slash);
    name.erase(0, slash + 1);
  }
  // A tag follows the last ':' of the name (the host's port is gone).
  if (auto colon = name.rfind(':'); colon != std::string::npos) {
    parts.image.tag = name.substr(colon + 1);
    name.resize(colon);
    if (!IsValidTag(parts.image.tag)) {
      return Usage("bad tag \"" + parts.image.tag + "\" in " + given, command);
    }
  }
  if (auto valid = ValidateRepoName(name); !valid) {
    return Usage("bad repository name \"" + name + "\" in " + given + ": " +
                     valid.error().message,
                 command);
  }
  parts.image.repository = std::move(name);
  return parts;
}

namespace {

// Fails unless `parts` names no host or one of `own_hosts`.
Result<void> CheckHost(const ReferenceParts& parts, std::string_view text,
                       std::span<const std::string> own_hosts) {
  if (parts.host.empty()) return {};
  const std::string host = Lower(parts.host);
  for (const std::string& own : own_hosts) {
    if (host == Lower(own)) return {};
  }
  const std::string ours = own_hosts.empty() ? "the saved server" : own_hosts.front();
  if (IsDockerHub(parts.host)) {
    return Failed("\"" + std::string(text) + "\" names Docker Hub; keepctl talks to one Keep "
                  "server, " + ours,
                  "name an image of " + ours + ", e.g. " + parts.image.repository +
                      ":latest, without a host");
  }
  std::string hint = "keepctl talks to the server it is logged in to; leave the host out, or "
                     "`keepctl login` to " + parts.host + " first";
  if (parts.host.find(':') == std::string::npos && Lower(parts.host) == parts.host) {
    // "my.org/app": a namespace with a '.' reads as a host, as docker reads it.
    hint = "if " + parts.host + " is a namespace, lead with the registry: " + ours + "/" +
           parts.host + "/" + parts.image.ToString();
  }
  return Failed("\"" + std::string(text) + "\" names the registry " + parts.host + ", not " +
                    ours + " where keepctl is logged in",
                hint);
}

}  // namespace

Result<ImageRef> ParseImageRef(std::string_view text, std::span<const std::string> own_hosts,
                               const std::string& command) {
  auto parts = SplitReference(text, command);
  if (!parts) return parts.error();
  KEEPCTL_TRY(CheckHost(*parts, text, own_hosts));
  if (parts->image.tag.empty() && parts->image.digest.empty()) {
    return Usage("\"" + std::string(text) +
                     "\" names no tag or digest: give REPO:TAG or REPO@DIGEST",
                 command);
  }
  return parts->image;
}

Result<std::string> ParseRepositoryRef(std::string_view text,
                                       std::span<const std::string> own_hosts,
                                       const std::string& command) {
  auto parts = SplitReference(text, command);
  if (!parts) return parts.error();
  KEEPCTL_TRY(CheckHost(*parts, text, own_hosts));
  if (!parts->image.tag.empty() || !parts->image.digest.empty()) {
    return Usage("\"" + std::string(text) + "\" names a tag or digest: give the repository alone",
                 command);
  }
  return parts->image.repository;
}

}  // namespace keep::cli
