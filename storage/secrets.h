// storage/secrets.h — the secrets keepd makes for itself: the token signing
// key, the curator key and the key that seals upstream credentials.
//
// One keepd keeps each in a file of its data directory (mode 0600), made at
// its first start. Replicas must share them, or a token one replica issued
// would be refused by the next: with the metadata in PostgreSQL the database
// holds them (Metadata::SharedSecret). The first replica to start offers its
// file's secret, or a new one; every replica then uses what the database
// holds, and writes a copy to its own file when it has none, so that the data
// directory always says which key this keepd signs with.
#pragma once

#include "core/error.h"
#include "storage/metadata.h"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace keep {

// The whole of a small private file; nullopt when it does not exist.
[[nodiscard]] Result<std::optional<std::string>> ReadPrivateFile(const std::string& path);
// Writes a new private file (0600) whole and durably. A file made meanwhile
// by another process is kept, and is what the caller should read back.
[[nodiscard]] Result<void> WritePrivateFile(const std::string& path, std::string_view bytes);

// The content of the private file at `path`, made by `make` (and written,
// 0600) when it does not exist. `what` names it in errors ("the token key").
[[nodiscard]] Result<std::string> FileSecret(const std::string& path, const std::string& what,
                                             const std::function<std::string()>& make);

// The secret kept at `path` (see above): from the database when it shares
// secrets, else from the file; made by `make` when there is none yet.
// `what` names it in errors ("the token key").
[[nodiscard]] Result<std::string> KeepSecret(Metadata& metadata, const std::string& path,
                                             const std::string& what,
                                             const std::function<std::string()>& make);

}  // namespace keep
