#include "trust/fulcio.h"

#include "core/clock.h"
#include "trust/openssl_util.h"

#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

namespace keep {
namespace {

using trust_internal::Freer;
using X509Ptr = std::unique_ptr<X509, Freer<X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Freer<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Freer<X509_STORE_CTX_free>>;

constexpr std::size_t kMaxClaim = 4 << 10;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

CertPtr Share(X509* cert) { return CertPtr(cert, X509_free); }

void FreeCerts(STACK_OF(X509) * certs) { sk_X509_pop_free(certs, X509_free); }
using CertStackPtr = std::unique_ptr<STACK_OF(X509), decltype(&FreeCerts)>;

void FreeScts(STACK_OF(SCT) * scts) { SCT_LIST_free(scts); }

std::string Sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string SpkiDer(X509* cert) {
  unsigned char* der = nullptr;
  int size = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (size <= 0) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string TimeText(std::int64_t t) { return Rfc3339Utc(t); }

// The certificate's notBefore and notAfter, as seconds since the epoch.
bool Validity(X509* cert, std::int64_t& not_before, std::int64_t& not_after) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) != 1) return false;
  not_before = timegm(&tm);
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return false;
  not_after = timegm(&tm);
  return true;
}

void Put(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

Result<CertPtr> ParseCertificateDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  ERR_clear_error();
  if (cert == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    X509_free(cert);
    return Bad("not a DER X.509 certificate");
  }
  return Share(cert);
}

Result<std::vector<CertPtr>> ParseCertificatesPem(std::string_view pem) {
  std::vector<CertPtr> out;
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::string_view rest = pem;
  while (rest.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    if (out.size() == kMaxChainCertificates) return Bad("more than 8 PEM certificates");
    auto end = rest.find(kEnd);
    if (end == std::string_view::npos) return Bad("a PEM block without its END CERTIFICATE line");
    auto block = trust_internal::ReadOnePem(rest.substr(0, end + kEnd.size()), "certificate");
    if (!block) return block.error();
    if (block->label != "CERTIFICATE") return Bad("a PEM block that is not a CERTIFICATE");
    auto cert = ParseCertificateDer(block->der);
    if (!cert) return cert.error();
    out.push_back(std::move(*cert));
    rest.remove_prefix(end + kEnd.size());
  }
  if (out.empty()) return Bad("no PEM certificate");
  return out;
}

std::string CertificateDer(X509* cert) {
  unsigned char* der = nullptr;
  int size = i2d_X509(cert, &der);
  if (size <= 0) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

Result<CertificateIdentity> ReadCertificateIdentity(X509* leaf) {
  CertificateIdentity out;
  for (int i = 0; i < X509_get_ext_count(leaf); ++i) {
    X509_EXTENSION* ext = X509_get_ext(leaf, i);
    char oid[80];
    if (OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1) <= 0) continue;
    std::string_view name(oid);
    if (!name.starts_with(kFulcioOidPrefix)) continue;
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
    std::string_view raw(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                         static_cast<std::size_t>(ASN1_STRING_length(value)));
    if (raw.size() > kMaxClaim)
      return Bad("the certificate's extension " + std::string(name) + " is too large");
    std::string text;
    int arc = std::atoi(name.substr(kFulcioOidPrefix.size()).data());
    if (arc >= 1 && arc <= 6) {
      text = std::string(raw);  // the legacy claims: the string itself
    } else {
      const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
      ASN1_UTF8STRING* s = d2i_ASN1_UTF8STRING(nullptr, &p, static_cast<long>(raw.size()));
      bool whole =
          s != nullptr && p == reinterpret_cast<const unsigned char*>(raw.data()) + raw.size();
      if (whole) {
        text.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<std::size_t>(ASN1_STRING_length(s)));
      }
      ASN1_UTF8STRING_free(s);
      ERR_clear_error();
      if (!whole) {
        return Bad("the certificate's extension " + std::string(name) + " is not a UTF8String");
      }
    }
    if (!out.extensions.emplace(std::string(name), std::move(text)).second) {
      return Bad("the certificate repeats extension " + std::string(name));
    }
  }
  if (auto it = out.extensions.find(std::string(kFulcioIssuerOid)); it != out.extensions.end()) {
    out.issuer = it->second;
  } else if (auto legacy = out.extensions.find(std::string(kFulcioLegacyIssuerOid));
             legacy != out.extensions.end()) {
    out.issuer = legacy->second;
  }
  if (out.issuer.empty()) {
    return Bad("the certificate names no OIDC issuer (extension 1.3.6.1.4.1.57264.1.8 or .1.1)");
  }
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI && name->type != GEN_EMAIL) continue;
    const ASN1_IA5STRING* s = name->d.ia5;
    out.subject.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    break;
  }
  GENERAL_NAMES_free(names);
  ERR_clear_error();
  if (out.subject.empty()) {
    return Bad("the certificate names no subject (a SubjectAltName URI or email)");
  }
  return out;
}

Result<VerifiedChain> VerifyCertificateChain(X509* leaf, const TrustedRoot& root,
                                             std::int64_t time) {
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  if (!Validity(leaf, not_before, not_after))
    return Bad("the certificate's validity is unreadable");
  if (time < not_before || time > not_after) {
    return Bad("the signing time " + TimeText(time) + " is outside the certificate's validity (" +
               TimeText(not_before) + " to " + TimeText(not_after) + ")");
  }
  if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) == 0 ||
      (X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN) == 0) {
    return Bad("the certificate does not allow code signing (extended key usage)");
  }
  if (X509_check_ca(leaf) != 0 || (X509_get_extension_flags(leaf) & EXFLAG_CA) != 0) {
    ERR_clear_error();
    return Bad(
        "the signing certificate is a certificate authority (basicConstraints CA, or a "
        "keyCertSign key usage), not a leaf");
  }
  if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    return Bad("the certificate's key usage does not allow digitalSignature");
  }
  std::string why =
      "no certificate authority of the trusted root is valid at the signing time " + TimeText(time);
  for (const TrustedAuthority& ca : root.certificate_authorities) {
    if (!ca.valid_for.Contains(time)) continue;
    StorePtr store(X509_STORE_new());
    CertStackPtr untrusted(sk_X509_new_null(), FreeCerts);
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!store || !untrusted || !ctx) return Fail(ErrorCode::kInternal, "out of memory");
    bool ok = true;
    for (std::size_t i = 0; i < ca.chain_der.size() && ok; ++i) {
      auto cert = ParseCertificateDer(ca.chain_der[i]);
      if (!cert) {
        ok = false;
      } else if (i + 1 == ca.chain_der.size()) {
        ok = X509_STORE_add_cert(store.get(), cert->get()) == 1;
      } else {
        ok = X509_up_ref(cert->get()) == 1 && sk_X509_push(untrusted.get(), cert->get()) > 0;
      }
    }
    if (!ok || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
      ERR_clear_error();
      return Fail(ErrorCode::kInternal, "could not set up certificate verification");
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(time));
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    int verified = X509_verify_cert(ctx.get());
    int error = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    if (verified == 1) {
      STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
      if (chain == nullptr || sk_X509_num(chain) < 2) {
        return Bad("the certificate is itself a trusted authority, not a signing certificate");
      }
      X509* issuer = sk_X509_value(chain, 1);
      X509_up_ref(issuer);
      return VerifiedChain{&ca, Share(issuer)};
    }
    why = std::string(
              "the certificate does not chain to a certificate authority of the trusted "
              "root valid at the signing time: ") +
          X509_verify_cert_error_string(error);
  }
  return Bad(why);
}

Result<void> VerifyEmbeddedSct(X509* leaf, X509* issuer, const TrustedRoot& root) {
  auto* scts =
      static_cast<STACK_OF(SCT)*>(X509_get_ext_d2i(leaf, NID_ct_precert_scts, nullptr, nullptr));
  std::unique_ptr<STACK_OF(SCT), decltype(&FreeScts)> owned(scts, FreeScts);
  ERR_clear_error();
  if (scts == nullptr || sk_SCT_num(scts) == 0) {
    return Bad("the certificate has no embedded SCT (certificate transparency timestamp)");
  }
  // The signed precertificate: the leaf's TBSCertificate without the SCT list.
  X509Ptr copy(X509_dup(leaf));
  int at = copy ? X509_get_ext_by_NID(copy.get(), NID_ct_precert_scts, -1) : -1;
  if (at < 0) return Fail(ErrorCode::kInternal, "could not copy the certificate");
  X509_EXTENSION_free(X509_delete_ext(copy.get(), at));
  unsigned char* tbs_der = nullptr;
  int tbs_size = i2d_re_X509_tbs(copy.get(), &tbs_der);
  if (tbs_size <= 0) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "could not encode the precertificate");
  }
  std::string tbs(reinterpret_cast<const char*>(tbs_der), static_cast<std::size_t>(tbs_size));
  OPENSSL_free(tbs_der);
  const std::string issuer_key_hash = Sha256(SpkiDer(issuer));

  bool known = false;
  for (int i = 0; i < sk_SCT_num(scts); ++i) {
    const SCT* sct = sk_SCT_value(scts, i);
    unsigned char* id = nullptr;
    std::size_t id_size = SCT_get0_log_id(sct, &id);
    std::string log_id(reinterpret_cast<const char*>(id), id_size);
    const std::uint64_t millis = SCT_get_timestamp(sct);
    auto logs = LogsFor(root.ctlogs, log_id, static_cast<std::int64_t>(millis / 1000));
    if (logs.empty() || SCT_get_version(sct) != SCT_VERSION_V1) continue;
    known = true;
    unsigned char* ext = nullptr;
    std::size_t ext_size = SCT_get0_extensions(sct, &ext);
    unsigned char* sig = nullptr;
    std::size_t sig_size = SCT_get0_signature(sct, &sig);
    std::string signed_data;
    Put(signed_data, 0, 1);  // sct_version v1
    Put(signed_data, 0, 1);  // signature_type certificate_timestamp
    Put(signed_data, millis, 8);
    Put(signed_data, 1, 2);  // entry_type precert_entry
    signed_data += issuer_key_hash;
    Put(signed_data, tbs.size(), 3);
    signed_data += tbs;
    Put(signed_data, ext_size, 2);
    signed_data.append(reinterpret_cast<const char*>(ext), ext_size);
    std::string_view signature(reinterpret_cast<const char*>(sig), sig_size);
    bool verified = false;
    for (const TrustedLog* log : logs) {
      verified = verified || VerifyWithKey(log->key.get(), signed_data, signature);
    }
    if (!verified) {
      return Bad("the certificate's SCT from CT log " + logs[0]->base_url + " does not verify");
    }
  }
  if (!known) {
    return Bad(
        "the certificate's SCTs are from no CT log of the trusted root (valid at their time)");
  }
  return {};
}

}  // namespace keep
