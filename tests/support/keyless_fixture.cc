#include "tests/support/keyless_fixture.h"

#include "core/base64.h"
#include "core/clock.h"

#include <openssl/ct.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <stdexcept>

namespace keep::keyless_test {

void PkeyFree::operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
void X509Free::operator()(X509* p) const { X509_free(p); }

namespace {

using nlohmann::json;

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("fixture: ") + what);
}

std::string Rfc3339(std::int64_t t) { return Rfc3339Utc(t); }

void AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "extension");
  X509_EXTENSION_free(ext);
}

// An extension of dotted `oid` whose value is `der`.
void AddRawExt(X509* cert, const std::string& oid, const std::string& der) {
  ASN1_OBJECT* obj = OBJ_txt2obj(oid.c_str(), 1);
  ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(data, reinterpret_cast<const unsigned char*>(der.data()),
                        static_cast<int>(der.size()));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, data);
  Check(ext != nullptr && X509_add_ext(cert, ext, -1) == 1, "raw extension");
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(data);
  ASN1_OBJECT_free(obj);
}

std::string Utf8Der(const std::string& text) {
  ASN1_UTF8STRING* s = ASN1_UTF8STRING_new();
  ASN1_STRING_set(s, text.data(), static_cast<int>(text.size()));
  unsigned char* der = nullptr;
  int size = i2d_ASN1_UTF8STRING(s, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  ASN1_UTF8STRING_free(s);
  return out;
}

CertOwner NewCert(EVP_PKEY* subject_key, const std::string& cn, std::int64_t from,
                  std::int64_t to) {
  CertOwner cert(X509_new());
  X509_set_version(cert.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(from));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(to));
  X509_set_pubkey(cert.get(), subject_key);
  if (!cn.empty()) {
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("keep.test"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  return cert;
}

CertOwner MakeCa(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key) {
  CertOwner cert = NewCert(key, cn, kSignedAt - 10 * 86400, kSignedAt + 3650 * 86400);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get()));
  AddExt(cert.get(), issuer ? issuer : cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExt(cert.get(), issuer ? issuer : cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExt(cert.get(), issuer ? issuer : cert.get(), NID_subject_key_identifier, "hash");
  if (issuer != nullptr) {
    AddExt(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  }
  Check(X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256()) > 0, "sign CA");
  return cert;
}

void Put(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// Embeds an SCT by `ct_key` into `leaf` (already carrying every other
// extension), then signs it with `issuer_key`.
void EmbedSct(X509* leaf, X509* issuer, EVP_PKEY* issuer_key, EVP_PKEY* ct_key) {
  Check(X509_sign(leaf, issuer_key, EVP_sha256()) > 0, "sign precert");
  unsigned char* tbs_der = nullptr;
  int tbs_size = i2d_re_X509_tbs(leaf, &tbs_der);
  std::string tbs(reinterpret_cast<char*>(tbs_der), static_cast<std::size_t>(tbs_size));
  OPENSSL_free(tbs_der);
  const std::uint64_t millis = static_cast<std::uint64_t>(kSignedAt) * 1000;
  std::string data;
  Put(data, 0, 1);
  Put(data, 0, 1);
  Put(data, millis, 8);
  Put(data, 1, 2);
  data += Sha256Raw(SpkiDer(X509_get0_pubkey(issuer)));
  Put(data, tbs.size(), 3);
  data += tbs;
  Put(data, 0, 2);
  std::string sig = SignP256(ct_key, data);
  std::string log_id = Sha256Raw(SpkiDer(ct_key));

  SCT* sct = SCT_new();
  Check(SCT_set_version(sct, SCT_VERSION_V1) == 1 &&
            SCT_set_log_entry_type(sct, CT_LOG_ENTRY_TYPE_PRECERT) == 1 &&
            SCT_set1_log_id(sct, reinterpret_cast<const unsigned char*>(log_id.data()),
                            log_id.size()) == 1 &&
            SCT_set_signature_nid(sct, NID_ecdsa_with_SHA256) == 1 &&
            SCT_set1_signature(sct, reinterpret_cast<const unsigned char*>(sig.data()),
                               sig.size()) == 1,
        "SCT");
  SCT_set_timestamp(sct, millis);
  STACK_OF(SCT)* list = sk_SCT_new_null();
  sk_SCT_push(list, sct);
  Check(X509_add1_ext_i2d(leaf, NID_ct_precert_scts, list, 0, X509V3_ADD_APPEND) == 1,
        "SCT extension");
  SCT_LIST_free(list);
  Check(X509_sign(leaf, issuer_key, EVP_sha256()) > 0, "sign leaf");
}

Leaf MakeLeaf(const LeafOptions& o, X509* issuer, EVP_PKEY* issuer_key, EVP_PKEY* ct_key) {
  Leaf leaf{nullptr, NewP256()};
  // A CA needs a subject name; a Fulcio leaf has none.
  leaf.cert = NewCert(leaf.key.get(), o.ca ? "test-ca-as-leaf" : "", o.not_before, o.not_after);
  X509* cert = leaf.cert.get();
  X509_set_issuer_name(cert, X509_get_subject_name(issuer));
  if (o.ca) AddExt(cert, issuer, NID_basic_constraints, "critical,CA:TRUE");
  AddExt(cert, issuer, NID_key_usage, o.key_usage.c_str());
  AddExt(cert, issuer, NID_ext_key_usage, o.code_signing ? "codeSigning" : "emailProtection");
  AddExt(cert, issuer, NID_subject_key_identifier, "hash");
  AddExt(cert, issuer, NID_authority_key_identifier, "keyid:always");
  AddExt(cert, issuer, NID_subject_alt_name, ("critical,URI:" + o.subject_uri).c_str());
  if (o.legacy_issuer) {
    AddRawExt(cert, "1.3.6.1.4.1.57264.1.1", o.issuer);
  } else {
    AddRawExt(cert, "1.3.6.1.4.1.57264.1.8", Utf8Der(o.issuer));
  }
  for (const auto& [oid, value] : o.extensions) AddRawExt(cert, oid, Utf8Der(value));
  if (o.sct) {
    EmbedSct(cert, issuer, issuer_key, o.sct_key ? o.sct_key : ct_key);
  } else {
    Check(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "sign leaf");
  }
  return leaf;
}

std::string LeafHash(const std::string& data) { return Sha256Raw(std::string(1, '\0') + data); }
std::string NodeHash(const std::string& l, const std::string& r) {
  return Sha256Raw(std::string(1, '\1') + l + r);
}

std::size_t Split(std::size_t n) {
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// RFC 6962 2.1: the tree head of leaves [begin, end), and the audit path of m.
std::string TreeHash(const std::vector<std::string>& leaves, std::size_t begin, std::size_t end) {
  if (end - begin == 1) return LeafHash(leaves[begin]);
  std::size_t k = Split(end - begin);
  return NodeHash(TreeHash(leaves, begin, begin + k), TreeHash(leaves, begin + k, end));
}
std::vector<std::string> Path(const std::vector<std::string>& leaves, std::size_t m,
                              std::size_t begin, std::size_t end) {
  if (end - begin == 1) return {};
  std::size_t k = Split(end - begin);
  std::vector<std::string> out;
  if (m < k) {
    out = Path(leaves, m, begin, begin + k);
    out.push_back(TreeHash(leaves, begin + k, end));
  } else {
    out = Path(leaves, m - k, begin + k, end);
    out.push_back(TreeHash(leaves, begin, begin + k));
  }
  return out;
}

}  // namespace

KeyPtr NewP256() {
  KeyPtr key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "key");
  return key;
}

std::string SpkiDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int size = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string SpkiPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string CertDer(X509* cert) {
  unsigned char* der = nullptr;
  int size = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(size));
  OPENSSL_free(der);
  return out;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string Sha256Raw(const std::string& data) {
  unsigned char out[32];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(out), size);
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 15]);
  }
  return out;
}

std::string SignP256(EVP_PKEY* key, const std::string& data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t size = 0;
  Check(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx, nullptr, &size, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1,
        "sign");
  std::string sig(size, '\0');
  Check(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1,
        "sign");
  sig.resize(size);
  EVP_MD_CTX_free(ctx);
  return sig;
}

Sigstore::Sigstore()
    : root_key_(NewP256()), inter_key_(NewP256()), ct_key_(NewP256()), rekor_key_(NewP256()),
      other_root_key_(NewP256()), tsa_(NewTsa()) {
  root_ = MakeCa(root_key_.get(), "test-fulcio-root", nullptr, nullptr);
  inter_ = MakeCa(inter_key_.get(), "test-fulcio-intermediate", root_.get(), root_key_.get());
  other_root_ = MakeCa(other_root_key_.get(), "test-fulcio-root", nullptr, nullptr);
}

Leaf Sigstore::IssueLeaf(const LeafOptions& options) {
  return MakeLeaf(options, inter_.get(), inter_key_.get(), ct_key_.get());
}

Leaf Sigstore::IssueUntrustedLeaf() {
  return MakeLeaf(LeafOptions{}, other_root_.get(), other_root_key_.get(), ct_key_.get());
}

std::string Sigstore::OtherRootDer() const { return CertDer(other_root_.get()); }

json Sigstore::TrustedRoot() const {
  auto log = [](EVP_PKEY* key, const std::string& url) {
    return json{{"baseUrl", url},
                {"hashAlgorithm", "SHA2_256"},
                {"publicKey",
                 {{"rawBytes", EncodeBase64(SpkiDer(key))},
                  {"keyDetails", "PKIX_ECDSA_P256_SHA_256"},
                  {"validFor", {{"start", Rfc3339(kSignedAt - 86400)}}}}},
                {"logId", {{"keyId", EncodeBase64(Sha256Raw(SpkiDer(key)))}}}};
  };
  json valid = {{"start", Rfc3339(ca_start)}};
  if (ca_end) valid["end"] = Rfc3339(*ca_end);
  return json{
      {"mediaType", "application/vnd.dev.sigstore.trustedroot+json;version=0.1"},
      {"tlogs", json::array({log(rekor_key_.get(), "https://rekor.keep.test")})},
      {"ctlogs", json::array({log(ct_key_.get(), "https://ct.keep.test")})},
      {"certificateAuthorities",
       json::array({{{"subject", {{"organization", "keep.test"}, {"commonName", "test-fulcio"}}},
                     {"uri", "https://fulcio.keep.test"},
                     {"certChain",
                      {{"certificates",
                        json::array({{{"rawBytes", EncodeBase64(CertDer(inter_.get()))}},
                                     {{"rawBytes", EncodeBase64(CertDer(root_.get()))}}})}}},
                     {"validFor", valid}}})},
      {"timestampAuthorities", TimestampAuthorities()}};
}

json Sigstore::Entry(const std::string& body, const EntryOptions& o) const {
  EVP_PKEY* log_key = o.log_key ? o.log_key : rekor_key_.get();
  EVP_PKEY* checkpoint_key = o.checkpoint_key ? o.checkpoint_key : log_key;
  const std::string log_id = Sha256Raw(SpkiDer(log_key));
  const std::int64_t log_index = 1005;
  json entry = {{"logIndex", std::to_string(log_index)},
                {"logId", {{"keyId", EncodeBase64(log_id)}}},
                {"kindVersion", {{"kind", o.kind}, {"version", o.rekor_v2 ? "0.0.2" : o.version}}},
                {"canonicalizedBody", EncodeBase64(body)}};
  if (!o.rekor_v2) entry["integratedTime"] = std::to_string(o.integrated_time);
  if (o.set && !o.rekor_v2) {
    // Canonical JSON: members sorted, no white space.
    std::string payload = "{\"body\":\"" + EncodeBase64(body) +
                          "\",\"integratedTime\":" + std::to_string(o.integrated_time) +
                          ",\"logID\":\"" + Hex(log_id) +
                          "\",\"logIndex\":" + std::to_string(log_index) + "}";
    entry["inclusionPromise"] = {
        {"signedEntryTimestamp", EncodeBase64(SignP256(log_key, payload))}};
  }
  if (o.proof) {
    std::vector<std::string> leaves;
    leaves.reserve(7);
    for (int i = 0; i < 7; ++i) leaves.push_back("other entry " + std::to_string(i));
    leaves[5] = body;
    const std::string root = TreeHash(leaves, 0, leaves.size());
    json hashes = json::array();
    for (const std::string& h : Path(leaves, 5, 0, leaves.size()))
      hashes.push_back(EncodeBase64(h));
    const std::string origin = "rekor.keep.test - 42";
    const std::string text = origin + "\n7\n" + EncodeBase64(root) + "\n";
    const std::string hint = log_id.substr(0, 4);
    const std::string note = text + "\n\xe2\x80\x94 " + "rekor.keep.test " +
                             EncodeBase64(hint + SignP256(checkpoint_key, text)) + "\n";
    entry["inclusionProof"] = {{"logIndex", "5"},
                               {"rootHash", EncodeBase64(root)},
                               {"treeSize", "7"},
                               {"hashes", hashes},
                               {"checkpoint", {{"envelope", note}}}};
  }
  return entry;
}

std::string Sigstore::HashedRekordBody(const std::string& sha256_hex, const std::string& signature,
                                       const std::string& pem) {
  json body = {{"apiVersion", "0.0.1"},
               {"kind", "hashedrekord"},
               {"spec",
                {{"data", {{"hash", {{"algorithm", "sha256"}, {"value", sha256_hex}}}}},
                 {"signature",
                  {{"content", EncodeBase64(signature)},
                   {"publicKey", {{"content", EncodeBase64(pem)}}}}}}}};
  return body.dump();
}

std::string Sigstore::DsseBody(const std::string& payload, const std::string& signature,
                               const std::string& pem) {
  json body = {{"apiVersion", "0.0.1"},
               {"kind", "dsse"},
               {"spec",
                {{"envelopeHash", {{"algorithm", "sha256"}, {"value", Hex(Sha256Raw("envelope"))}}},
                 {"payloadHash", {{"algorithm", "sha256"}, {"value", Hex(Sha256Raw(payload))}}},
                 {"signatures", json::array({{{"signature", EncodeBase64(signature)},
                                              {"verifier", EncodeBase64(pem)}}})}}}};
  return body.dump();
}

json Sigstore::MessageBundle(const std::string& artifact, const Leaf& leaf,
                             const EntryOptions& options, const std::string& media_type) const {
  const std::string sig = SignP256(leaf.key.get(), artifact);
  const std::string body =
      options.rekor_v2 ? HashedRekordV2Body(Sha256Raw(artifact), sig, CertDer(leaf.cert.get()))
                       : HashedRekordBody(Hex(Sha256Raw(artifact)), sig, CertPem(leaf.cert.get()));
  json material = {{"tlogEntries", json::array({Entry(body, options)})}};
  const std::string der = EncodeBase64(CertDer(leaf.cert.get()));
  if (media_type.find("0.3") != std::string::npos) {
    material["certificate"] = {{"rawBytes", der}};
  } else {
    material["x509CertificateChain"] = {{"certificates", json::array({{{"rawBytes", der}}})}};
  }
  return json{{"mediaType", media_type},
              {"verificationMaterial", material},
              {"messageSignature",
               {{"messageDigest",
                 {{"algorithm", "SHA2_256"}, {"digest", EncodeBase64(Sha256Raw(artifact))}}},
                {"signature", EncodeBase64(sig)}}}};
}

json Sigstore::DsseBundle(const std::string& subject_sha256_hex, const Leaf& leaf,
                          const EntryOptions& options) const {
  const std::string statement = json{
      {"_type", "https://in-toto.io/Statement/v1"},
      {"subject", json::array({{{"name", "app"}, {"digest", {{"sha256", subject_sha256_hex}}}}})},
      {"predicateType", "https://slsa.dev/provenance/v1"},
      {"predicate", json::object()}}.dump();
  return DsseBundleOf(statement, leaf, options);
}

std::string Sigstore::CosignRekorAnnotation(const std::string& payload,
                                            const std::string& signature, const Leaf& leaf,
                                            const EntryOptions& options) const {
  const std::string body =
      HashedRekordBody(Hex(Sha256Raw(payload)), signature, CertPem(leaf.cert.get()));
  EntryOptions o = options;
  o.proof = false;
  o.set = true;
  json entry = Entry(body, o);
  EVP_PKEY* log_key = o.log_key ? o.log_key : rekor_key_.get();
  json annotation = {{"SignedEntryTimestamp", entry["inclusionPromise"]["signedEntryTimestamp"]},
                     {"Payload",
                      {{"body", EncodeBase64(body)},
                       {"integratedTime", o.integrated_time},
                       {"logIndex", 1005},
                       {"logID", Hex(Sha256Raw(SpkiDer(log_key)))}}}};
  return annotation.dump();
}

std::string Sigstore::ChainPem() const { return CertPem(inter_.get()) + CertPem(root_.get()); }

json Sigstore::DsseBundleOf(const std::string& statement, const Leaf& leaf,
                            const EntryOptions& options) const {
  const std::string type = "application/vnd.in-toto+json";
  const std::string pae = "DSSEv1 " + std::to_string(type.size()) + " " + type + " " +
                          std::to_string(statement.size()) + " " + statement;
  const std::string sig = SignP256(leaf.key.get(), pae);
  EntryOptions o = options;
  o.kind = o.rekor_v2 && o.dsse_as_hashedrekord ? "hashedrekord" : "dsse";
  const std::string body = !o.rekor_v2 ? DsseBody(statement, sig, CertPem(leaf.cert.get()))
                           : o.dsse_as_hashedrekord
                               ? HashedRekordV2Body(Sha256Raw(pae), sig, CertDer(leaf.cert.get()))
                               : DsseV2Body(statement, sig, CertDer(leaf.cert.get()));
  return json{{"mediaType", "application/vnd.dev.sigstore.bundle.v0.3+json"},
              {"verificationMaterial",
               {{"certificate", {{"rawBytes", EncodeBase64(CertDer(leaf.cert.get()))}}},
                {"tlogEntries", json::array({Entry(body, o)})}}},
              {"dsseEnvelope",
               {{"payload", EncodeBase64(statement)},
                {"payloadType", type},
                {"signatures", json::array({{{"sig", EncodeBase64(sig)}, {"keyid", ""}}})}}}};
}

}  // namespace keep::keyless_test
