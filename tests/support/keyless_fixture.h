// A private sigstore, made with OpenSSL for the keyless tests: a Fulcio-like
// root and intermediate CA issuing short-lived leaf certificates with Fulcio
// extensions and an embedded SCT from a test CT log; a Rekor-like log key
// making signed entry timestamps, a Merkle tree with inclusion proofs and
// signed checkpoints; an RFC 3161 timestamp authority (a TSA certificate
// with the timeStamping usage under a TSA root, tokens made with OpenSSL's
// TS_RESP_CTX); a trusted_root.json naming them; and the bundles and log
// entries (Rekor v1, and Rekor v2: no integrated time, no SET) a signer
// would get. Every part can be broken on purpose.
// The timestamp and Rekor v2 parts are in keyless_fixture_v2.cc.
#pragma once

#include <openssl/types.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace keep::keyless_test {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const;
};
struct X509Free {
  void operator()(X509* p) const;
};
using KeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CertOwner = std::unique_ptr<X509, X509Free>;

KeyPtr NewP256();
std::string SpkiDer(EVP_PKEY* key);
std::string SpkiPem(EVP_PKEY* key);
std::string CertDer(X509* cert);
std::string CertPem(X509* cert);
std::string Sha256Raw(const std::string& data);
std::string Hex(const std::string& bytes);
// ECDSA over SHA-256, DER.
std::string SignP256(EVP_PKEY* key, const std::string& data);

inline constexpr std::int64_t kSignedAt = 1'700'000'000;  // 2023-11-14T22:13:20Z
inline constexpr char kIssuer[] = "https://token.actions.githubusercontent.com";
inline constexpr char kSubject[] =
    "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.0";

struct LeafOptions {
  std::string issuer = kIssuer;
  bool legacy_issuer = false;  // .1.1 (raw) instead of .1.8 (UTF8String)
  std::string subject_uri = kSubject;
  std::int64_t not_before = kSignedAt - 60;
  std::int64_t not_after = kSignedAt + 540;
  std::map<std::string, std::string> extensions = {
      {"1.3.6.1.4.1.57264.1.12", "https://github.com/acme/app"},
      {"1.3.6.1.4.1.57264.1.14", "refs/tags/v1.2.0"}};
  bool sct = true;
  EVP_PKEY* sct_key = nullptr;  // default: the test CT log's
  bool code_signing = true;
  std::string key_usage = "critical,digitalSignature";
  bool ca = false;  // basicConstraints CA:TRUE: a CA certificate as the leaf
};

struct Leaf {
  CertOwner cert;
  KeyPtr key;
};

// How Sigstore::Timestamp makes an RFC 3161 timestamp.
struct TsaOptions {
  std::int64_t gen_time = kSignedAt;
  bool response = true;     // a TimeStampResp; false: the TimeStampToken alone
  bool embed_certs = true;  // the token carries the TSA certificate
  bool untrusted = false;   // signed by a TSA of another root, not in TrustedRoot()
  // The token carries, instead of the TSA certificate, its twin (same
  // issuer, serial and key) without the timeStamping usage.
  bool without_eku = false;
};

class Sigstore {
 public:
  Sigstore();

  Leaf IssueLeaf(const LeafOptions& options = {});
  // A leaf from another CA, with an SCT from this CT log.
  Leaf IssueUntrustedLeaf();

  // The trusted_root.json naming this CA, Rekor log and CT log.
  nlohmann::json TrustedRoot() const;

  // A log entry in a bundle's form for `body`, at `integrated_time`, with a
  // SET and/or an inclusion proof in a tree of 7 leaves (this one at index 5)
  // and its checkpoint.
  struct EntryOptions {
    std::int64_t integrated_time = kSignedAt;
    bool set = true;
    bool proof = true;
    EVP_PKEY* log_key = nullptr;         // default: the Rekor key
    EVP_PKEY* checkpoint_key = nullptr;  // default: log_key
    std::string kind = "hashedrekord";
    std::string version = "0.0.1";
    // A Rekor v2 entry (version "0.0.2" of the kind): no integratedTime, no
    // SET (`set` and `integrated_time` are ignored), v0.0.2 bodies; a DSSE
    // bundle's entry is a dsse 0.0.2 one, or with `dsse_as_hashedrekord`, a
    // hashedrekord 0.0.2 of the envelope's pre-authentication encoding.
    bool rekor_v2 = false;
    bool dsse_as_hashedrekord = false;
  };
  nlohmann::json Entry(const std::string& body, const EntryOptions& options) const;

  // hashedrekord v0.0.1 body for an artifact digest (hex), signature and
  // certificate or key PEM.
  static std::string HashedRekordBody(const std::string& sha256_hex, const std::string& signature,
                                      const std::string& pem);
  // dsse v0.0.1 body.
  static std::string DsseBody(const std::string& payload, const std::string& signature,
                              const std::string& pem);
  // hashedrekord v0.0.2 body: the SHA-256 `digest` (raw) of what was
  // signed, the signature and the certificate (DER).
  static std::string HashedRekordV2Body(const std::string& digest, const std::string& signature,
                                        const std::string& cert_der);
  // dsse v0.0.2 body.
  static std::string DsseV2Body(const std::string& payload, const std::string& signature,
                                const std::string& cert_der);

  // An RFC 3161 timestamp of `signed_bytes` (DER).
  using TsaOptions = keyless_test::TsaOptions;
  std::string Timestamp(const std::string& signed_bytes, const TsaOptions& options = {}) const;
  // The bundle's signature (a message signature's, or the envelope's first).
  static std::string SignatureOf(const nlohmann::json& bundle);
  // Adds a timestamp of `signed_bytes` (default: the bundle's signature).
  void AddTimestamp(nlohmann::json& bundle, const TsaOptions& options = {},
                    const std::optional<std::string>& signed_bytes = std::nullopt) const;

  // A message-signature bundle for `artifact` signed by `leaf`.
  nlohmann::json MessageBundle(
      const std::string& artifact, const Leaf& leaf, const EntryOptions& options,
      const std::string& media_type = "application/vnd.dev.sigstore.bundle.v0.3+json") const;
  // A DSSE bundle of an in-toto statement naming `subject_sha256_hex`.
  nlohmann::json DsseBundle(const std::string& subject_sha256_hex, const Leaf& leaf,
                            const EntryOptions& options) const;
  // A DSSE bundle of `statement` (in-toto JSON, e.g. cosign's signing one).
  nlohmann::json DsseBundleOf(const std::string& statement, const Leaf& leaf,
                              const EntryOptions& options) const;
  // cosign's "dev.sigstore.cosign/bundle" layer annotation (a Rekor SET over
  // a hashedrekord entry) for `signature` over `payload` by `leaf`.
  std::string CosignRekorAnnotation(const std::string& payload, const std::string& signature,
                                    const Leaf& leaf, const EntryOptions& options) const;
  // The CA chain (intermediate, root) as PEM, as cosign's chain annotation.
  std::string ChainPem() const;

  // A self-signed root certificate of another CA (DER).
  std::string OtherRootDer() const;

  EVP_PKEY* rekor_key() const { return rekor_key_.get(); }
  EVP_PKEY* ct_key() const { return ct_key_.get(); }

  std::int64_t ca_start = kSignedAt - 86400;
  std::optional<std::int64_t> ca_end;
  // The timestamp authority's validFor, and whether its chain in the trust
  // root holds the TSA certificate (else only the TSA root: a token must
  // carry its certificate).
  std::int64_t tsa_start = kSignedAt - 86400;
  std::optional<std::int64_t> tsa_end;
  bool tsa_chain_has_leaf = true;

 private:
  struct Tsa;  // keyless_fixture_v2.cc
  static std::shared_ptr<const Tsa> NewTsa();
  nlohmann::json TimestampAuthorities() const;

  KeyPtr root_key_, inter_key_, ct_key_, rekor_key_, other_root_key_;
  CertOwner root_, inter_, other_root_;
  std::shared_ptr<const Tsa> tsa_;
};

}  // namespace keep::keyless_test
