#include "trust/timestamp.h"

#include "core/clock.h"
#include "trust/fulcio.h"
#include "trust/openssl_util.h"
#include "trust/tlog.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>

namespace keep {
namespace {

using trust_internal::Freer;
using RespPtr = std::unique_ptr<TS_RESP, Freer<TS_RESP_free>>;
using Pkcs7Ptr = std::unique_ptr<PKCS7, Freer<PKCS7_free>>;
using TstInfoPtr = std::unique_ptr<TS_TST_INFO, Freer<TS_TST_INFO_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Freer<X509_STORE_free>>;
using VerifyCtxPtr = std::unique_ptr<TS_VERIFY_CTX, Freer<TS_VERIFY_CTX_free>>;

void FreeCerts(STACK_OF(X509) * certs) { sk_X509_pop_free(certs, X509_free); }
using CertStackPtr = std::unique_ptr<STACK_OF(X509), decltype(&FreeCerts)>;

Error Bad(std::string why) { return Fail(ErrorCode::kInvalid, std::move(why)); }

// The token of `der`: a whole TimeStampResp whose status grants it, or a
// whole TimeStampToken. Either way every byte is read.
Result<Pkcs7Ptr> ReadToken(std::string_view der) {
  const auto* start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* p = start;
  RespPtr resp(d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())));
  if (resp && p == start + der.size()) {
    const ASN1_INTEGER* status = TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp.get()));
    const long code = status ? ASN1_INTEGER_get(status) : -1;
    // RFC 3161 2.4.2: granted (0) and grantedWithMods (1) carry a token.
    if (code != 0 && code != 1) {
      return Bad("the timestamp response's status (" + std::to_string(code) +
                 ") does not grant a timestamp");
    }
    PKCS7* token = TS_RESP_get_token(resp.get());
    if (token == nullptr) return Bad("the timestamp response holds no token");
    return Pkcs7Ptr(PKCS7_dup(token));
  }
  ERR_clear_error();
  p = start;
  Pkcs7Ptr token(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())));
  if (!token || p != start + der.size()) {
    return Bad("it is not one DER TimeStampResp or TimeStampToken");
  }
  return token;
}

// The SHA-2 digest of `data` by the imprint's algorithm, or nullopt for
// another algorithm.
std::optional<std::string> ImprintOf(const X509_ALGOR* algorithm, std::string_view data) {
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, algorithm);
  const int nid = oid ? OBJ_obj2nid(oid) : NID_undef;
  const EVP_MD* md = nid == NID_sha256   ? EVP_sha256()
                     : nid == NID_sha384 ? EVP_sha384()
                     : nid == NID_sha512 ? EVP_sha512()
                                         : nullptr;
  if (md == nullptr) return std::nullopt;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out, &size, md, nullptr) != 1) return std::nullopt;
  return std::string(reinterpret_cast<char*>(out), size);
}

std::optional<std::int64_t> SecondsOf(const ASN1_GENERALIZEDTIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

// The certificates of `chain_der`, parsed; nullptr if one does not parse
// (ParseTrustedRoot has parsed them all before).
CertStackPtr StackOf(const std::vector<std::string>& chain_der) {
  CertStackPtr out(sk_X509_new_null(), FreeCerts);
  if (!out) return out;
  for (const std::string& der : chain_der) {
    auto cert = ParseCertificateDer(der);
    if (!cert || X509_up_ref(cert->get()) != 1 || sk_X509_push(out.get(), cert->get()) <= 0) {
      return CertStackPtr(nullptr, FreeCerts);
    }
  }
  return out;
}

// True when `cert` allows time stamping only, by a critical extension.
bool TimeStampingOnly(X509* cert) {
  if ((X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0 ||
      X509_get_extended_key_usage(cert) != XKU_TIMESTAMP) {
    return false;
  }
  const int at = X509_get_ext_by_NID(cert, NID_ext_key_usage, -1);
  return at >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, at)) == 1;
}

// Verifies `token` as signed by `authority` at `time`. kInvalid.
Result<void> VerifyBy(PKCS7* token, const TrustedAuthority& authority, std::int64_t time) {
  CertStackPtr chain = StackOf(authority.chain_der);
  if (!chain || sk_X509_num(chain.get()) == 0) {
    return Bad("its timestamp authority's chain does not parse");
  }
  // The token's one signer, among its own certificates and the authority's.
  STACK_OF(X509)* signers = PKCS7_get0_signers(token, chain.get(), 0);
  X509* signer = signers && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : nullptr;
  const bool timestamping = signer != nullptr && TimeStampingOnly(signer);
  sk_X509_free(signers);
  ERR_clear_error();
  if (signer == nullptr) {
    return Bad(
        "its signer's certificate is neither in the token nor in the timestamp authority's "
        "chain");
  }
  if (!timestamping) {
    return Bad(
        "its signer's certificate does not allow time stamping only (a critical extended key "
        "usage of timeStamping alone)");
  }
  // The anchor is the authority's last certificate; the others are only
  // material to build the chain with.
  StorePtr store(X509_STORE_new());
  X509* anchor = sk_X509_pop(chain.get());
  const bool added = store && X509_STORE_add_cert(store.get(), anchor) == 1;
  X509_free(anchor);
  if (!added) {
    ERR_clear_error();
    return Fail(ErrorCode::kInternal, "could not set up timestamp verification");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), static_cast<time_t>(time));
  VerifyCtxPtr ctx(TS_VERIFY_CTX_new());
  if (!ctx) return Fail(ErrorCode::kInternal, "out of memory");
  // The context owns the store and the certificates from here.
  TS_VERIFY_CTX_set_store(ctx.get(), store.release());
  TS_VERIFY_CTX_set_certs(ctx.get(), chain.release());
  TS_VERIFY_CTX_set_flags(ctx.get(), TS_VFY_SIGNATURE | TS_VFY_VERSION);
  const bool ok = TS_RESP_verify_token(ctx.get(), token) == 1;
  unsigned long code = ERR_peek_last_error();
  char text[256] = {0};
  if (!ok && code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  if (!ok) {
    return Bad(std::string("its signature or its signer's chain to the timestamp authority "
                           "does not verify at its time") +
               (text[0] != 0 ? std::string(" (") + text + ")" : std::string()));
  }
  return {};
}

}  // namespace

Result<VerifiedTimestamp> VerifyTimestamp(std::string_view der, std::string_view signed_bytes,
                                          const TrustedRoot& root, std::int64_t now) {
  if (der.empty() || der.size() > kMaxTimestampBytes) {
    return Bad("it is not 1 to " + std::to_string(kMaxTimestampBytes) + " bytes");
  }
  auto token = ReadToken(der);
  if (!token) return token.error();
  TstInfoPtr info(PKCS7_to_TS_TST_INFO(token->get()));
  ERR_clear_error();
  if (!info) return Bad("its token holds no TSTInfo");
  if (TS_TST_INFO_get_version(info.get()) != 1) {
    return Bad("its TSTInfo is not of version 1");
  }
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(info.get());
  const ASN1_OCTET_STRING* message = imprint ? TS_MSG_IMPRINT_get_msg(imprint) : nullptr;
  auto expected =
      imprint ? ImprintOf(TS_MSG_IMPRINT_get_algo(imprint), signed_bytes) : std::nullopt;
  if (!expected) return Bad("its message imprint is not a SHA-256, SHA-384 or SHA-512 hash");
  if (message == nullptr ||
      std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(message)),
                       static_cast<std::size_t>(ASN1_STRING_length(message))) != *expected) {
    return Bad("its message imprint is not the hash of this signature");
  }
  auto time = SecondsOf(TS_TST_INFO_get_time(info.get()));
  ERR_clear_error();
  if (!time) return Bad("its genTime is unreadable");
  if (*time > now + kMaxClockSkew) {
    return Bad("its genTime (" + Rfc3339Utc(*time) + ") is in the future");
  }
  std::string why = "no timestamp authority of the trusted root is valid at its genTime (" +
                    Rfc3339Utc(*time) + ")";
  for (const TrustedAuthority& authority : root.timestamp_authorities) {
    if (!authority.valid_for.Contains(*time)) continue;
    auto verified = VerifyBy(token->get(), authority, *time);
    if (verified) return VerifiedTimestamp{*time, &authority};
    why = verified.error().message;
  }
  return Bad(why);
}

}  // namespace keep
