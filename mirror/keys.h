// mirror/keys.h — the mirror's two secrets, each a file of its own in the
// data directory (mode 0600), made on first start:
//   curator.key         the curator key: an Ed25519 private key (PKCS#8 PEM)
//                       that signs every image the mirror vetted, in the
//                       cosign layout, so that the namespace can trust it like
//                       any publisher key and any cosign-aware client can
//                       verify it (`keepctl mirror key` prints its public half);
//   mirror-secrets.key  32 random bytes that seal upstream credentials
//                       (libsodium's secretbox: XSalsa20-Poly1305), so that a
//                       copy of the database alone does not give them away.
// Replicas on PostgreSQL share both through the database (storage/secrets.h).
// Removing curator.key makes a new curator key at the next start: what was
// signed with the old one stays trusted only while the namespace keeps the
// old key. Removing mirror-secrets.key makes stored credentials unreadable
// (each rule must be given its password again).
//
// Thread-safe once made (immutable).
#pragma once

#include "core/error.h"
#include "trust/keys.h"

#include <array>
#include <string>
#include <string_view>

namespace keep::mirror {

class Curator {
 public:
  // Reads <data_dir>/curator.key, or makes it when it does not exist.
  [[nodiscard]] static Result<Curator> LoadOrCreate(const std::string& data_dir);
  // The curator of a private key's PEM; `where` names where it was kept.
  [[nodiscard]] static Result<Curator> FromPem(std::string_view pem, const std::string& where);
  // A new private key's PEM (empty if none could be made).
  static std::string NewPem();
  const PublicKey& public_key() const { return key_.public_key(); }
  const PrivateKey& private_key() const { return key_; }

 private:
  explicit Curator(PrivateKey key) : key_(std::move(key)) {}
  PrivateKey key_;
};

class SecretBox {
 public:
  // Reads <data_dir>/mirror-secrets.key, or makes it when it does not exist.
  [[nodiscard]] static Result<SecretBox> LoadOrCreate(const std::string& data_dir);
  // The box of a 32-byte key; `where` names where it was kept.
  [[nodiscard]] static Result<SecretBox> FromBytes(std::string_view bytes,
                                                   const std::string& where);
  // A new key for FromBytes.
  static std::string NewBytes();
  // base64(nonce || ciphertext) of `plain`.
  std::string Seal(std::string_view plain) const;
  // kInternal when the text was not sealed with this key (or was altered).
  [[nodiscard]] Result<std::string> Open(std::string_view sealed) const;

 private:
  std::array<unsigned char, 32> key_{};
};

}  // namespace keep::mirror
