// The private sigstore's timestamp authority and Rekor v2 bodies
// (keyless_fixture.h).
#include "core/base64.h"
#include "core/clock.h"
#include "tests/support/keyless_fixture.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace keep::keyless_test {
namespace {

using nlohmann::json;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("fixture: ") + what);
}

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "extension");
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, issued by `issuer` (itself when null)
// with `issuer_key`, with this serial; a CA, or a TSA certificate whose
// extended key usage is `eku`.
CertOwner MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                   long serial, const char* eku) {
  CertOwner cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(kSignedAt - 10 * 86400));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(kSignedAt + 3650 * 86400));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("keep.test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (eku == nullptr) {
    AddExt(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    AddExt(cert.get(), signer, NID_ext_key_usage, eku);
  }
  AddExt(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (issuer != nullptr) AddExt(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  Check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "sign");
  return cert;
}

int GenTime(TS_RESP_CTX*, void* data, long* sec, long* usec) {
  *sec = static_cast<long>(*static_cast<const std::int64_t*>(data));
  *usec = 0;
  return 1;
}

std::string Der(PKCS7* token) {
  unsigned char* der = nullptr;
  int size = i2d_PKCS7(token, &der);
  Check(size > 0, "token DER");
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

}  // namespace

// A TSA root and TSA certificate, the TSA certificate's twin without the
// timeStamping usage, and another root's TSA.
struct Sigstore::Tsa {
  KeyPtr root_key = NewP256(), key = NewP256(), other_root_key = NewP256(), other_key = NewP256();
  CertOwner root = MakeCert(root_key.get(), "test-tsa-root", nullptr, nullptr, 7001, nullptr);
  CertOwner cert =
      MakeCert(key.get(), "test-tsa", root.get(), root_key.get(), 7002, "critical,timeStamping");
  CertOwner twin =
      MakeCert(key.get(), "test-tsa", root.get(), root_key.get(), 7002, "critical,codeSigning");
  CertOwner other_root =
      MakeCert(other_root_key.get(), "test-tsa-root", nullptr, nullptr, 7003, nullptr);
  CertOwner other = MakeCert(other_key.get(), "test-tsa", other_root.get(), other_root_key.get(),
                             7004, "critical,timeStamping");
};

std::shared_ptr<const Sigstore::Tsa> Sigstore::NewTsa() { return std::make_shared<const Tsa>(); }

json Sigstore::TimestampAuthorities() const {
  json chain = json::array();
  if (tsa_chain_has_leaf) chain.push_back({{"rawBytes", EncodeBase64(CertDer(tsa_->cert.get()))}});
  chain.push_back({{"rawBytes", EncodeBase64(CertDer(tsa_->root.get()))}});
  json valid = {{"start", Rfc3339Utc(tsa_start)}};
  if (tsa_end) valid["end"] = Rfc3339Utc(*tsa_end);
  return json::array({{{"subject", {{"organization", "keep.test"}, {"commonName", "test-tsa"}}},
                       {"uri", "https://tsa.keep.test"},
                       {"certChain", {{"certificates", chain}}},
                       {"validFor", valid}}});
}

std::string Sigstore::Timestamp(const std::string& signed_bytes, const TsaOptions& o) const {
  X509* cert = o.untrusted ? tsa_->other.get() : tsa_->cert.get();
  EVP_PKEY* key = o.untrusted ? tsa_->other_key.get() : tsa_->key.get();
  // The request: a SHA-256 imprint, asking for the certificate or not.
  TS_REQ* req = TS_REQ_new();
  TS_MSG_IMPRINT* imprint = TS_MSG_IMPRINT_new();
  X509_ALGOR* algorithm = X509_ALGOR_new();
  const std::string digest = Sha256Raw(signed_bytes);
  Check(X509_ALGOR_set0(algorithm, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, nullptr) == 1 &&
            TS_MSG_IMPRINT_set_algo(imprint, algorithm) == 1 &&
            TS_MSG_IMPRINT_set_msg(
                imprint, reinterpret_cast<unsigned char*>(const_cast<char*>(digest.data())),
                static_cast<int>(digest.size())) == 1 &&
            TS_REQ_set_version(req, 1) == 1 && TS_REQ_set_msg_imprint(req, imprint) == 1 &&
            TS_REQ_set_cert_req(req, o.embed_certs ? 1 : 0) == 1,
        "timestamp request");
  X509_ALGOR_free(algorithm);
  TS_MSG_IMPRINT_free(imprint);
  BIO* request = BIO_new(BIO_s_mem());
  Check(i2d_TS_REQ_bio(request, req) == 1, "request DER");
  TS_REQ_free(req);

  TS_RESP_CTX* ctx = TS_RESP_CTX_new();
  ASN1_OBJECT* policy = OBJ_txt2obj("1.3.6.1.4.1.57264.2", 1);
  std::int64_t gen_time = o.gen_time;
  Check(TS_RESP_CTX_set_signer_cert(ctx, cert) == 1 && TS_RESP_CTX_set_signer_key(ctx, key) == 1 &&
            TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) == 1 &&
            TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) == 1 &&
            TS_RESP_CTX_set_def_policy(ctx, policy) == 1 &&
            TS_RESP_CTX_add_md(ctx, EVP_sha256()) == 1,
        "timestamp context");
  TS_RESP_CTX_set_time_cb(ctx, GenTime, &gen_time);
  TS_RESP* resp = TS_RESP_create_response(ctx, request);
  Check(resp != nullptr && TS_RESP_get_token(resp) != nullptr, "timestamp response");
  PKCS7* token = TS_RESP_get_token(resp);
  if (o.without_eku) {
    // OpenSSL signs only with a timeStamping certificate: swap in the twin.
    STACK_OF(X509)* certs = token->d.sign->cert;
    Check(certs != nullptr && sk_X509_num(certs) == 1, "the token's certificate");
    X509_free(sk_X509_value(certs, 0));
    X509_up_ref(tsa_->twin.get());
    sk_X509_set(certs, 0, tsa_->twin.get());
  }
  std::string out;
  if (o.response) {
    unsigned char* der = nullptr;
    int size = i2d_TS_RESP(resp, &der);
    Check(size > 0, "response DER");
    out.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
    OPENSSL_free(der);
  } else {
    out = Der(token);
  }
  TS_RESP_free(resp);
  TS_RESP_CTX_free(ctx);
  ASN1_OBJECT_free(policy);
  BIO_free(request);
  return out;
}

std::string Sigstore::SignatureOf(const json& bundle) {
  if (bundle.contains("messageSignature")) {
    return DecodeBase64(bundle["messageSignature"]["signature"].get<std::string>()).value();
  }
  return DecodeBase64(bundle["dsseEnvelope"]["signatures"][0]["sig"].get<std::string>()).value();
}

void Sigstore::AddTimestamp(json& bundle, const TsaOptions& options,
                            const std::optional<std::string>& signed_bytes) const {
  const std::string der = Timestamp(signed_bytes.value_or(SignatureOf(bundle)), options);
  json& data = bundle["verificationMaterial"]["timestampVerificationData"];
  if (!data.contains("rfc3161Timestamps")) data["rfc3161Timestamps"] = json::array();
  data["rfc3161Timestamps"].push_back({{"signedTimestamp", EncodeBase64(der)}});
}

std::string Sigstore::HashedRekordV2Body(const std::string& digest, const std::string& signature,
                                         const std::string& cert_der) {
  json body = {{"apiVersion", "0.0.2"},
               {"kind", "hashedrekord"},
               {"spec",
                {{"hashedRekordV002",
                  {{"data", {{"algorithm", "SHA2_256"}, {"digest", EncodeBase64(digest)}}},
                   {"signature",
                    {{"content", EncodeBase64(signature)},
                     {"verifier",
                      {{"keyDetails", "PKIX_ECDSA_P256_SHA_256"},
                       {"x509Certificate", {{"rawBytes", EncodeBase64(cert_der)}}}}}}}}}}}};
  return body.dump();
}

std::string Sigstore::DsseV2Body(const std::string& payload, const std::string& signature,
                                 const std::string& cert_der) {
  json body = {
      {"apiVersion", "0.0.2"},
      {"kind", "dsse"},
      {"spec",
       {{"dsseV002",
         {{"payloadHash",
           {{"algorithm", "SHA2_256"}, {"digest", EncodeBase64(Sha256Raw(payload))}}},
          {"signatures",
           json::array({{{"content", EncodeBase64(signature)},
                         {"verifier",
                          {{"keyDetails", "PKIX_ECDSA_P256_SHA_256"},
                           {"x509Certificate", {{"rawBytes", EncodeBase64(cert_der)}}}}}}})}}}}}};
  return body.dump();
}

}  // namespace keep::keyless_test
