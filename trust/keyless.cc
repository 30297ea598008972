#include "trust/keyless.h"

#include "core/clock.h"
#include "trust/openssl_util.h"
#include "trust/schema.h"
#include "trust/sigstore_bundle.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <regex>

namespace keep {
namespace {

using nlohmann::json;
using trust_internal::IsLowerHex;
using trust_internal::ParseStrictJson;
using trust_internal::Quoted;
using trust_internal::Shown;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

std::string OidOf(const std::string& name) {
  for (const FulcioExtensionName& known : kFulcioExtensionNames) {
    if (known.name == name) return std::string(known.oid);
  }
  return name;
}

// A signature over the SHA-256 `digest` (raw) of a message, by `key`.
bool VerifyDigest(EVP_PKEY* key, std::string_view digest, std::string_view signature) {
  trust_internal::PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key, nullptr));
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
            EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(digest.data()),
                            digest.size()) == 1;
  ERR_clear_error();
  return ok;
}

// A message signature over the artifact, by `key`: over its bytes when the
// caller has them (Ed25519 needs them), else over its digest.
bool VerifyMessage(EVP_PKEY* key, const SignedArtifact& artifact, std::string_view signature) {
  if (EVP_PKEY_is_a(key, "ED25519")) {
    return artifact.bytes && VerifyWithKey(key, *artifact.bytes, signature);
  }
  return VerifyDigest(key, trust_internal::HexToBytes(artifact.digest.hex()), signature);
}

// kInvalid unless the in-toto statement names the artifact among its subjects.
Result<void> CheckStatement(const SignedMaterial& m, const Digest& artifact) {
  if (m.payload_type != kInTotoPayloadType) {
    return Bad("content: the envelope's payloadType is \"" + Shown(m.payload_type) + "\", not " +
               std::string(kInTotoPayloadType));
  }
  auto statement = ParseStrictJson(m.payload);
  if (!statement || !statement->is_object()) {
    return Bad("content: the envelope's payload is not an in-toto statement");
  }
  auto subjects = statement->find("subject");
  if (subjects == statement->end() || !subjects->is_array()) {
    return Bad("content: the in-toto statement has no subject list");
  }
  for (const json& subject : *subjects) {
    const json* digest =
        subject.is_object() ? trust_internal::ObjectAt(subject, "digest") : nullptr;
    const std::string* hex = digest ? trust_internal::StringAt(*digest, "sha256") : nullptr;
    if (hex != nullptr && *hex == artifact.hex()) return {};
  }
  return Bad("content: the in-toto statement does not name the artifact " + artifact.str() +
             " among its subjects");
}

// The signer's key: the leaf's, or the trusted key that made the signature.
struct Signer {
  EVP_PKEY* key = nullptr;
  const PublicKey* trusted = nullptr;  // the key path
  std::string leaf_der;                // the certificate path
};

// Step 1: the content verifies with `key`.
Result<void> CheckContent(const SignedMaterial& m, const SignedArtifact& artifact, EVP_PKEY* key) {
  if (!m.is_dsse) {
    if (!m.message_digest_hint.empty() &&
        m.message_digest_hint != trust_internal::HexToBytes(artifact.digest.hex())) {
      return Bad("content: the bundle's messageDigest is not the artifact's digest");
    }
    if (!VerifyMessage(key, artifact, m.signature)) {
      return Bad("content: the signature does not verify over the artifact with the signer's key");
    }
    return {};
  }
  // One signer: every signature the envelope holds is its own.
  const std::string pae = DssePae(m.payload_type, m.payload);
  for (const std::string& sig : m.dsse_signatures) {
    if (!VerifyWithKey(key, pae, sig)) {
      return Bad("content: an envelope signature does not verify with the signer's key");
    }
  }
  return CheckStatement(m, artifact.digest);
}

// The logged key or certificate is the signer's.
bool SameSigner(const std::string& logged_pem, const Signer& signer) {
  if (signer.trusted != nullptr) {
    auto key = ParsePublicKey(logged_pem);
    return key && key->key_id() == signer.trusted->key_id();
  }
  auto certs = ParseCertificatesPem(logged_pem);
  return certs && certs->size() == 1 && CertificateDer(certs->front().get()) == signer.leaf_der;
}

// Step 2: the entry logs this content.
Result<void> CheckBinding(const LogEntry& entry, const SignedMaterial& m,
                          const SignedArtifact& artifact, const Signer& signer) {
  auto logged = ReadLoggedContent(entry);
  if (!logged) return Bad("binding: " + logged.error().message);
  if (logged->kind == "hashedrekord" && m.is_dsse) {
    // Rekor v2 logs an envelope as a hashedrekord of its pre-authentication
    // encoding and its one signature.
    if (entry.version != "0.0.2") {
      return Bad("binding: the log entry is a hashedrekord " + entry.version +
                 ", the bundle a DSSE envelope");
    }
    if (m.dsse_signatures.size() != 1) {
      return Bad("binding: a hashedrekord entry logs one signature, and the envelope holds " +
                 std::to_string(m.dsse_signatures.size()));
    }
    if (logged->sha256 != Sha256Of(DssePae(m.payload_type, m.payload)).hex()) {
      return Bad("binding: the log entry is for another envelope (sha256 " + logged->sha256 + ")");
    }
    if (logged->signatures.at(0).sig != m.dsse_signatures.front()) {
      return Bad("binding: the log entry logs another signature");
    }
    if (!SameSigner(logged->signatures.at(0).verifier_pem, signer)) {
      return Bad("binding: the log entry logs another certificate or key");
    }
    return {};
  }
  if (logged->kind == "hashedrekord") {
    if (logged->sha256 != artifact.digest.hex()) {
      return Bad("binding: the log entry is for another artifact (sha256 " + logged->sha256 + ")");
    }
    if (logged->signatures.at(0).sig != m.signature) {
      return Bad("binding: the log entry logs another signature");
    }
    if (!SameSigner(logged->signatures.at(0).verifier_pem, signer)) {
      return Bad("binding: the log entry logs another certificate or key");
    }
    return {};
  }
  if (!m.is_dsse)
    return Bad("binding: the log entry is a " + logged->kind + ", not a hashedrekord");
  if (logged->sha256 != Sha256Of(m.payload).hex()) {
    return Bad("binding: the log entry is for another payload (sha256 " + logged->sha256 + ")");
  }
  if (logged->signatures.size() != m.dsse_signatures.size()) {
    return Bad("binding: the log entry logs another number of signatures than the envelope holds");
  }
  // One to one: each envelope signature answers one logged signature.
  std::vector<bool> matched(m.dsse_signatures.size(), false);
  for (const DsseLogEntry::Signature& s : logged->signatures) {
    std::size_t i = 0;
    while (i < m.dsse_signatures.size() && (matched[i] || m.dsse_signatures[i] != s.sig)) ++i;
    if (i == m.dsse_signatures.size()) {
      return Bad("binding: the log entry logs a signature the envelope does not hold");
    }
    matched[i] = true;
    if (!SameSigner(s.verifier_pem, signer)) {
      return Bad("binding: the log entry logs another certificate or key");
    }
  }
  return {};
}

// Step 4's first part: a bundle carries its leaf and at most intermediates.
// A root (self-signed, or one of a trust root's anchors) is refused, as
// sigstore's clients do, though only the trust root's certificates build
// the chain.
Result<void> CheckCarriedChain(const std::vector<std::string>& certificates,
                               const std::vector<TrustedRoot>& roots) {
  for (const std::string& der : certificates) {
    auto cert = ParseCertificateDer(der);
    if (!cert) return Bad("certificate: the bundle's chain holds " + cert.error().message);
    bool root = X509_self_signed(cert->get(), 1) == 1;
    ERR_clear_error();
    for (const TrustedRoot& trusted : roots) {
      for (const TrustedAuthority& ca : trusted.certificate_authorities) {
        root = root || (!ca.chain_der.empty() && ca.chain_der.back() == der);
      }
    }
    if (root) {
      return Bad(
          "certificate: the bundle's chain holds a root certificate; a bundle carries the leaf "
          "and at most intermediates");
    }
  }
  return {};
}

// Step 4: a carried timestamp, over the signature (DSSE: one of the
// envelope's, all made by the one signer), verified against `root`; its
// time.
Result<std::int64_t> TimestampTime(const std::string& der, const SignedMaterial& m,
                                   const TrustedRoot& root, std::int64_t now) {
  Error why = Bad("timestamp: the material holds no signature");
  const std::vector<std::string> one{m.signature};
  for (const std::string& sig : m.is_dsse ? m.dsse_signatures : one) {
    auto stamp = VerifyTimestamp(der, sig, root, now);
    if (stamp) return stamp->time;
    why = Bad("timestamp: " + stamp.error().message);
  }
  return why;
}

// A Rekor v2 entry's checkpoint says nothing of when it was logged: a log
// of its id valid at each signing time must have signed it.
Result<void> CheckV2LogWindow(const LogEntry& entry, const TrustedRoot& root,
                              const std::vector<std::int64_t>& times) {
  if (!IsRekorV2(entry) || !entry.proof) return {};
  for (std::int64_t t : times) {
    bool signed_then = false;
    for (const TrustedLog* log : LogsFor(root.tlogs, entry.log_id, t)) {
      signed_then = signed_then || VerifyCheckpoint(entry.proof->checkpoint, *log,
                                                    entry.proof->tree_size, entry.proof->root_hash);
    }
    if (!signed_then) {
      return Bad("log: the Rekor v2 entry's log is not valid at the signing time " + Rfc3339Utc(t));
    }
  }
  return {};
}

}  // namespace

Result<void> CheckIdentity(KeylessIdentity& id) {
  if (id.name.empty()) return Bad("the identity has no name");
  if (id.issuer.empty()) return Bad("the identity " + Shown(id.name) + " has no issuer");
  if (id.subject.empty() == id.subject_regex.empty()) {
    return Bad("the identity " + Shown(id.name) +
               " needs exactly one of a subject and a subject "
               "regular expression");
  }
  if (!id.subject_regex.empty()) {
    if (id.subject_regex.size() > kMaxSubjectRegex) {
      return Bad("the identity " + Shown(id.name) +
                 "'s subject regular expression is longer than " +
                 std::to_string(kMaxSubjectRegex) + " bytes");
    }
    try {
      id.subject_pattern = std::make_shared<const SubjectPattern>(
          SubjectPattern{id.subject_regex, std::regex(id.subject_regex, std::regex::ECMAScript)});
    } catch (const std::regex_error&) {
      return Bad("the identity " + Shown(id.name) +
                 "'s subject regular expression does not compile");
    }
  }
  for (const auto& [name, value] : id.extensions) {
    if (!OidOf(name).starts_with(kFulcioOidPrefix) || value.empty()) {
      return Bad("the identity " + Shown(id.name) + " requires extension \"" + Shown(name) +
                 "\", which is not a Fulcio extension OID or name with a value");
    }
  }
  return {};
}

Result<void> MatchIdentity(const KeylessIdentity& id, const CertificateIdentity& cert) {
  if (cert.issuer != id.issuer) {
    return Bad("identity: the certificate's issuer \"" + Quoted(cert.issuer) + "\" is not \"" +
               Quoted(id.issuer) + "\"");
  }
  if (cert.subject.size() > kMaxMatchedSubject) {
    return Bad("identity: the certificate's subject is longer than " +
               std::to_string(kMaxMatchedSubject) + " bytes");
  }
  bool subject_ok = false;
  if (!id.subject_regex.empty()) {
    try {
      if (id.subject_pattern && id.subject_pattern->source == id.subject_regex) {
        subject_ok = std::regex_match(cert.subject, id.subject_pattern->compiled);
      } else if (id.subject_regex.size() <= kMaxSubjectRegex) {
        subject_ok =
            std::regex_match(cert.subject, std::regex(id.subject_regex, std::regex::ECMAScript));
      }
    } catch (const std::regex_error&) {
      subject_ok = false;  // a pattern too complex for the subject: no match
    }
  } else {
    subject_ok = cert.subject == id.subject;
  }
  if (!subject_ok) {
    return Bad("identity: the certificate's subject \"" + Quoted(cert.subject) +
               "\" does not match " +
               (id.subject_regex.empty() ? "\"" + Quoted(id.subject) + "\""
                                         : "the expression " + Quoted(id.subject_regex)));
  }
  for (const auto& [name, value] : id.extensions) {
    auto it = cert.extensions.find(OidOf(name));
    if (it == cert.extensions.end() || it->second != value) {
      return Bad("identity: the certificate's extension " + Quoted(name) + " is " +
                 (it == cert.extensions.end() ? "missing" : "\"" + Quoted(it->second) + "\"") +
                 ", not \"" + Quoted(value) + "\"");
    }
  }
  return {};
}

SignedVerdict VerifySigned(const SignedMaterial& m, const SignedArtifact& artifact,
                           const std::vector<TrustedRoot>& roots, const TrustedSigners& signers,
                           std::int64_t now) {
  SignedVerdict out;
  auto refuse = [&](const Error& e) {
    out.reason = e.message;
    return out;
  };
  if (artifact.digest.algorithm() != DigestAlgorithm::kSha256)
    return refuse(Bad("the artifact's digest is not sha256"));
  if (m.is_dsse ? m.dsse_signatures.empty() : m.signature.empty()) {
    return refuse(Bad("content: the material holds no signature"));
  }
  Signer signer;
  CertPtr leaf;
  if (m.certificates.empty()) {
    // A bundle signed with a key: one of the trusted keys made it.
    for (const PublicKey& key : signers.keys) {
      if (CheckContent(m, artifact, key.evp())) {
        signer.trusted = &key;
        signer.key = key.evp();
        break;
      }
    }
    if (signer.trusted == nullptr) {
      return refuse(Bad(signers.keys.empty()
                            ? "signer: the bundle is signed with a key, and no key is trusted"
                            : "content: no trusted key verifies the signature"));
    }
  } else {
    auto parsed = ParseCertificateDer(m.certificates.front());
    if (!parsed) return refuse(Bad("certificate: the leaf is " + parsed.error().message));
    leaf = std::move(*parsed);
    signer.leaf_der = m.certificates.front();
    signer.key = X509_get0_pubkey(leaf.get());
    if (signer.key == nullptr) return refuse(Bad("certificate: the leaf's key is unreadable"));
    if (auto carried = CheckCarriedChain(m.certificates, roots); !carried) {
      return refuse(carried.error());
    }
    if (auto content = CheckContent(m, artifact, signer.key); !content)
      return refuse(content.error());
    if (m.log_entries.empty()) {
      return refuse(
          Bad("log: a certificate-signed bundle with no transparency-log entry (nothing "
              "says when it was signed)"));
    }
  }
  for (const LogEntry& entry : m.log_entries) {
    if (auto bound = CheckBinding(entry, m, artifact, signer); !bound) return refuse(bound.error());
  }
  // Steps 3 and 4, against each trust root until one vouches for all.
  Error why = Bad("log: no trust root is given");
  const TrustedRoot* used = nullptr;
  for (const TrustedRoot& root : roots) {
    std::vector<std::int64_t> times;
    Result<void> ok;
    for (const LogEntry& entry : m.log_entries) {
      auto proof = VerifyLogEntry(entry, root, now);
      if (!proof) {
        ok = Bad("log: " + proof.error().message);
        break;
      }
      // Only a time the log signed; an unsigned integratedTime is the
      // bundle's word, and would choose the certificate's validity.
      if (proof->signed_time) times.push_back(*proof->signed_time);
    }
    for (std::size_t i = 0; ok && i < m.rfc3161_timestamps.size(); ++i) {
      auto time = TimestampTime(m.rfc3161_timestamps[i], m, root, now);
      if (time) {
        times.push_back(*time);
      } else {
        ok = time.error();
      }
    }
    for (std::size_t i = 0; ok && i < m.log_entries.size(); ++i) {
      if (auto valid = CheckV2LogWindow(m.log_entries[i], root, times); !valid) ok = valid;
    }
    if (ok && leaf && times.empty()) {
      ok = Bad(
          "log: no signed time (an inclusion proof alone does not sign when the entry was logged, "
          "no entry has a signed entry timestamp, and no RFC 3161 timestamp is carried)");
    }
    for (std::size_t i = 0; ok && leaf && i < times.size(); ++i) {
      auto chain = VerifyCertificateChain(leaf.get(), root, times[i]);
      if (!chain) {
        ok = Bad("certificate: " + chain.error().message);
      } else if (i == 0 && root.ctlogs.empty()) {
        ok = Bad("sct: the trust root names no CT log to check the certificate's SCT");
      } else if (i == 0) {
        if (auto sct = VerifyEmbeddedSct(leaf.get(), chain->issuer.get(), root); !sct) {
          ok = Bad("sct: " + sct.error().message);
        }
      }
    }
    if (!ok) {
      why = ok.error();
      continue;
    }
    used = &root;
    out.signing_times = std::move(times);
    break;
  }
  if (used == nullptr && !(signer.trusted != nullptr && m.log_entries.empty())) return refuse(why);
  if (signer.trusted != nullptr) {
    out.verified = true;
    out.signer = signer.trusted->key_id();
    return out;
  }
  // Step 5.
  auto identity = ReadCertificateIdentity(leaf.get());
  if (!identity) return refuse(Bad("identity: " + identity.error().message));
  out.certificate = *identity;
  Error mismatch = Bad("identity: no identity is trusted");
  for (const KeylessIdentity& id : signers.identities) {
    auto match = MatchIdentity(id, *identity);
    if (match) {
      out.verified = true;
      out.signer = id.name;
      out.trust_root = used->digest;
      return out;
    }
    mismatch = match.error();
  }
  return refuse(mismatch);
}

bool ChainOfTrustedRoots(const std::vector<std::string>& chain,
                         const std::vector<TrustedRoot>& roots) {
  for (const std::string& der : chain) {
    bool known = false;
    for (const TrustedRoot& root : roots) {
      for (const TrustedAuthority& ca : root.certificate_authorities) {
        for (const std::string& cert : ca.chain_der) known = known || cert == der;
      }
    }
    if (!known) return false;
  }
  return true;
}

}  // namespace keep
