// trust/openssl_util.h — internal to trust/: OpenSSL ownership and PEM reading.
//
// Not part of the module's interface (trust/trust.h does not include it).
// Stateless helpers; thread-safe. Every function that lets an OpenSSL call
// fail clears this thread's OpenSSL error queue before it returns, so no
// stale error leaks into unrelated code.
#pragma once

#include "core/error.h"
#include "trust/keys.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace keep {
namespace trust_internal {

template <auto Free>
struct Freer {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Freer<BIO_free_all>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Freer<EVP_MD_CTX_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Freer<EVP_PKEY_CTX_free>>;
using P8InfoPtr = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Freer<PKCS8_PRIV_KEY_INFO_free>>;
using X509SigPtr = std::unique_ptr<X509_SIG, Freer<X509_SIG_free>>;
using AlgorPtr = std::unique_ptr<X509_ALGOR, Freer<X509_ALGOR_free>>;

// One PEM block: its label ("PUBLIC KEY") and its decoded bytes. The bytes
// are wiped when the block is destroyed (they may be a private key).
struct PemBlock {
  std::string label;
  std::string der;
  bool has_headers = false;  // RFC 1421 headers ("Proc-Type: ...") were present

  PemBlock() = default;
  PemBlock(PemBlock&&) = default;
  PemBlock& operator=(PemBlock&&) = default;
  ~PemBlock();
};

// Reads exactly one PEM block from `text`: whitespace may surround it, nothing
// else may. `what` names the input in messages ("public key"). kInvalid.
[[nodiscard]] Result<PemBlock> ReadOnePem(std::string_view text, std::string_view what);

// Everything written to a memory BIO so far.
std::string BioContents(BIO* bio);

// The algorithm name of a supported key, or kInvalid naming what the key is
// and what Keep accepts. `what` starts the message ("public key").
[[nodiscard]] Result<std::string_view> SupportedAlgorithm(EVP_PKEY* key, std::string_view what);

// The key rebuilt from its material alone (trust/canonical_key.cc): for
// "ecdsa-p256" the uncompressed point on the named curve P-256, for "ed25519"
// its 32 bytes. Encoded, it is the one SubjectPublicKeyInfo a key's id is
// taken from, whatever encoding it came in. `algorithm` is what
// SupportedAlgorithm said of `key`. kInvalid when the material cannot be read.
[[nodiscard]] Result<Pkey> CanonicalPublicKey(EVP_PKEY* key, std::string_view algorithm);

// kInvalid unless `spki`, which `key` was decoded from, is a DER encoding
// of it that Keep takes: for Ed25519 the one there is; for P-256 one of the
// six OpenSSL writes (the named curve or exactly P-256's explicit parameters,
// any point form). Refused: BER (OpenSSL reads long-form lengths, and a
// key's BIT STRING with padding bits, which it clears), and explicit
// parameters that OpenSSL maps to P-256 though their seed or cofactor are
// not P-256's. `algorithm` is what SupportedAlgorithm said of `key`.
[[nodiscard]] Result<void> CheckEncoding(std::string_view spki, EVP_PKEY* key,
                                         std::string_view algorithm);

}  // namespace trust_internal

// Builds PublicKey and PrivateKey values (their constructors are private).
struct KeyAccess {
  // From a DER SubjectPublicKeyInfo; the whole input must be one key.
  [[nodiscard]] static Result<PublicKey> PublicFromDer(std::string_view der);
  // From a decoded private key; derives its public half.
  [[nodiscard]] static Result<PrivateKey> PrivateFrom(Pkey key);
};

}  // namespace keep
