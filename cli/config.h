// cli/config.h — the credentials file that `keepctl login` writes.
//
// The file is JSON, {"server","user","password","ca"}: the registry's URL,
// the account, its password and the absolute path of the CA file to verify
// the registry with ("" for the system's CAs). It holds a password, so it is
// mode 0600 in a directory created 0700, written to a temporary file (0600
// from the start) that is then renamed over it, and keepctl refuses a file
// that others may read or that another user owns.
//
// Where: $KEEPCTL_CONFIG if set, else $XDG_CONFIG_HOME/keep/keepctl.json
// (when XDG_CONFIG_HOME is an absolute path), else
// $HOME/.config/keep/keepctl.json. Thread-compatible: plain file I/O.
#pragma once

#include "cli/error.h"

#include <filesystem>
#include <optional>
#include <string>

namespace keep::cli {

struct Credentials {
  std::string server;  // as ServerUrl::ToString() prints it
  std::string user;
  std::string password;
  std::string ca;      // absolute path, or "" for the system's CAs
};

[[nodiscard]] Result<std::filesystem::path> CredentialsPath();

// nullopt when there is no file; a failure when it is unsafe or unreadable.
[[nodiscard]] Result<std::optional<Credentials>> LoadCredentials(
    const std::filesystem::path& path);

[[nodiscard]] Result<void> SaveCredentials(const std::filesystem::path& path,
                                           const Credentials& credentials);

// False when there was no file.
[[nodiscard]] Result<bool> RemoveCredentials(const std::filesystem::path& path);

// The environment variable `name`'s value, or "" when it is not set.
std::string EnvOrEmpty(const char* name);

}  // namespace keep::cli
