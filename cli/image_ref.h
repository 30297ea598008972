// cli/image_ref.h — image references as docker writes them, read for the one
// Keep server keepctl talks to: the one parser behind every command that takes
// an image or a repository (sign, verify, image show, tag list and delete,
// quarantine).
//
//   [docker://][HOST[:PORT]/]REPOSITORY[:TAG][@DIGEST]
//
// The first component of the name is a HOST when it holds a '.' or a ':' or
// an upper-case letter, or is "localhost" (docker's rule: a namespace with a
// '.' in it must then follow the host, "keep.example/my.org/app:v1"). Unlike
// docker, a name without a host names the server keepctl is logged in to,
// never Docker Hub; a HOST must be that server, and docker.io is refused by
// name. With both a tag and a digest the digest is what is fetched, as docker
// does. Thread-safe: pure functions.
#pragma once

#include "cli/error.h"

#include <span>
#include <string>
#include <string_view>

namespace keep::cli {

// "acme/app:v1", "acme/app@sha256:<hex>" or both, as the registry names it.
struct ImageRef {
  std::string repository;
  std::string tag;     // "" when none was given
  std::string digest;  // "" when none was given

  // What to ask the registry for: the digest when there is one, else the tag.
  const std::string& reference() const { return digest.empty() ? tag : digest; }
  // "acme/app:v1", "acme/app@sha256:...", "acme/app:v1@sha256:...".
  std::string ToString() const;
};

// The parts of a reference, by the grammar alone (no server in view). The
// repository, tag and digest are checked; the host is as written.
struct ReferenceParts {
  std::string host;  // "" when none; "keep.example:5000", "[::1]:5000"
  ImageRef image;
};
[[nodiscard]] Result<ReferenceParts> SplitReference(std::string_view text,
                                                    const std::string& command);

// A reference to an image of the server that answers as any of `own_hosts`
// (first the name to show: "keep.example:5000"; host names compare without
// regard to case). A Usage failure (for `command`'s help) when the text is
// no reference or names no tag or digest; a failure naming both servers when
// it names another.
[[nodiscard]] Result<ImageRef> ParseImageRef(std::string_view text,
                                             std::span<const std::string> own_hosts,
                                             const std::string& command);

// A repository of that server ("acme/app", "keep.example:5000/acme/app"); a
// Usage failure when a tag or digest is given.
[[nodiscard]] Result<std::string> ParseRepositoryRef(std::string_view text,
                                                     std::span<const std::string> own_hosts,
                                                     const std::string& command);

}  // namespace keep::cli
