// trust/keys.h — publisher keys: parsing, verifying, signing, generating.
//
// Keep accepts exactly two signature algorithms, the ones cosign and the
// containers/image sigstore support produce with a key file:
//   "ecdsa-p256"  ECDSA on NIST P-256 over SHA-256 of the payload, the
//                 signature DER-encoded (ASN.1 SEQUENCE of r and s), as
//                 `cosign sign --key` and `openssl dgst -sha256 -sign` make.
//   "ed25519"     pure Ed25519 over the raw payload, a 64-byte signature, as
//                 `openssl pkeyutl -sign -rawin` and `keepctl sign` make.
// Public keys come as PEM "PUBLIC KEY" (SubjectPublicKeyInfo); private keys as
// PKCS#8 PEM ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with a passphrase).
// Everything else — RSA, other curves, certificates, SEC1 "EC PRIVATE KEY",
// cosign's own encrypted key format — is refused with kInvalid and a message
// saying what is accepted.
//
// A key's id is the lower-case hex SHA-256 of its canonical DER
// SubjectPublicKeyInfo: the key rebuilt from its material alone, a P-256 key
// on the named curve with its point uncompressed, an Ed25519 key as its 32
// bytes. One key has one id whichever of OpenSSL's encodings it came in (a
// compressed or hybrid point, explicit curve parameters, a long-form DER
// length), so it cannot be trusted, counted or revoked under two names.
// For a key as OpenSSL writes it by default (cosign.pub, `openssl pkey
// -pubout`) that is `openssl pkey -pubin -outform DER | sha256sum`.
//
// Thread-safety: PublicKey and PrivateKey are immutable once made; one key may
// be used by many threads at once (OpenSSL allows concurrent read-only use of
// an EVP_PKEY). Copies share the underlying EVP_PKEY by reference count.
#pragma once

#include "core/error.h"

#include <openssl/types.h>

#include <string>
#include <string_view>
#include <utility>

namespace keep {

inline constexpr std::string_view kAlgorithmEcdsaP256 = "ecdsa-p256";
inline constexpr std::string_view kAlgorithmEd25519 = "ed25519";

// An owned EVP_PKEY: movable, and copyable by taking another reference.
class Pkey {
 public:
  Pkey() noexcept = default;
  explicit Pkey(EVP_PKEY* adopt) noexcept : p_(adopt) {}  // takes ownership
  ~Pkey();
  Pkey(const Pkey& other) noexcept;
  Pkey(Pkey&& other) noexcept : p_(other.p_) { other.p_ = nullptr; }
  Pkey& operator=(Pkey other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }

  EVP_PKEY* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  EVP_PKEY* p_ = nullptr;
};

class PublicKey {
 public:
  // "ecdsa-p256" or "ed25519".
  std::string_view algorithm() const { return algorithm_; }
  // Lower-case hex SHA-256 of the canonical DER SubjectPublicKeyInfo (64
  // characters; see above).
  const std::string& key_id() const { return key_id_; }
  // The canonical key as PEM "PUBLIC KEY", 64-column base64, final newline.
  const std::string& pem() const { return pem_; }
  // The canonical key: what signatures are verified with.
  EVP_PKEY* evp() const { return pkey_.get(); }

 private:
  friend struct KeyAccess;
  friend class PrivateKey;
  PublicKey() = default;
  std::string_view algorithm_;
  std::string key_id_;
  std::string pem_;
  Pkey pkey_;
};

class PrivateKey {
 public:
  std::string_view algorithm() const { return algorithm_; }
  // The matching public key (its id is the signer's key id).
  const PublicKey& public_key() const { return public_key_; }
  EVP_PKEY* evp() const { return pkey_.get(); }

 private:
  friend struct KeyAccess;
  PrivateKey() = default;
  std::string_view algorithm_;
  PublicKey public_key_;
  Pkey pkey_;
};

struct KeyPair {
  std::string private_pem;  // PKCS#8; "ENCRYPTED PRIVATE KEY" when a passphrase was given
  std::string public_pem;   // "PUBLIC KEY"
  std::string key_id;
};

// Parses one PEM "PUBLIC KEY" block (whitespace around it is allowed, nothing
// else). kInvalid, saying what is accepted, for anything but a P-256 or
// Ed25519 key, and for explicit curve parameters that are not exactly P-256's.
[[nodiscard]] Result<PublicKey> ParsePublicKey(std::string_view pem);

// True when `signature` is a valid signature of `payload` by `key` (see the
// algorithms above). False for anything else, malformed signatures included.
// Never throws.
[[nodiscard]] bool VerifySignature(const PublicKey& key, std::string_view payload,
                                   std::string_view signature) noexcept;

// Parses a PKCS#8 PEM private key. An "ENCRYPTED PRIVATE KEY" needs the
// passphrase it was encrypted with (kInvalid when it is missing or wrong); the
// passphrase is ignored for an unencrypted key.
[[nodiscard]] Result<PrivateKey> ParsePrivateKey(std::string_view pem,
                                                 std::string_view passphrase);

// Signs `payload`: a DER ECDSA signature over SHA-256, or a raw Ed25519 one.
// ECDSA signatures are randomised, so two calls give different bytes.
[[nodiscard]] Result<std::string> Sign(const PrivateKey& key, std::string_view payload);

// A fresh key pair. algorithm: "ecdsa-p256" or "ed25519" (kInvalid otherwise).
// With a non-empty passphrase the private key is encrypted as PKCS#8 PBES2:
// AES-256-CBC with a key from scrypt (N=16384, r=8, p=1, the `openssl pkcs8
// -scrypt` defaults, so OpenSSL reads it back within its memory limit).
[[nodiscard]] Result<KeyPair> GenerateKeyPair(std::string_view algorithm,
                                              std::string_view passphrase);

}  // namespace keep
