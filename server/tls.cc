#include "server/tls.h"

#include "core/names.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <new>
#include <stdexcept>

namespace keep::server {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

Error SslError(const std::string& what) {
  char buf[256] = {0};
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return Fail(ErrorCode::kInternal, what + ": " + buf);
}

bool AddExt(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

Result<void> WritePem(const std::string& path, mode_t mode, bool key, EVP_PKEY* pkey, X509* cert) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Fail(ErrorCode::kInternal, "cannot create " + tmp);
  FILE* f = ::fdopen(fd, "w");
  bool ok = key ? PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1
                : PEM_write_X509(f, cert) == 1;
  ok = ok && std::fflush(f) == 0 && ::fsync(fd) == 0;
  std::fclose(f);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kInternal, "cannot write " + path);
  }
  return {};
}

}  // namespace

Result<CertPaths> EnsureSelfSignedCertificate(const std::string& dir) {
  CertPaths p{dir + "/server.crt", dir + "/server.key", false};
  std::error_code ec;
  if (std::filesystem::exists(p.cert, ec) && std::filesystem::exists(p.key, ec)) return p;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kInternal, "cannot create " + dir + ": " + ec.message());

  PkeyPtr pkey(EVP_EC_gen("P-256"));
  if (!pkey) return SslError("generating the TLS key");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return SslError("random serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 825);
  X509_set_pubkey(cert.get(), pkey.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Keep registry"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);

  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0] != '\0' &&
      std::string(host).find_first_of(",:") == std::string::npos) {
    san += std::string(",DNS:") + host;
  }
  // CA:TRUE so that clients can trust this one certificate as their CA (ca.crt).
  if (!AddExt(cert.get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !AddExt(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !AddExt(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !AddExt(cert.get(), NID_subject_key_identifier, "hash") ||
      !AddExt(cert.get(), NID_subject_alt_name, san.c_str())) {
    return SslError("building the certificate");
  }
  if (X509_sign(cert.get(), pkey.get(), EVP_sha256()) == 0) return SslError("signing the certificate");
  KEEP_TRY(WritePem(p.key, 0600, true, pkey.get(), nullptr));
  KEEP_TRY(WritePem(p.cert, 0644, false, nullptr, cert.get()));
  p.created = true;
  return p;
}

namespace {

// Asks every client for a certificate from the CAs in `ca_file` (optional:
// a client without one goes on to Basic or token auth). One that is sent
// must verify against them, as a client certificate (its extended key
// usage, when it has one, must allow clientAuth), or the handshake fails.
Result<void> AskForClientCertificates(SSL_CTX* native, const std::string& ca_file) {
  if (SSL_CTX_load_verify_locations(native, ca_file.c_str(), nullptr) != 1) {
    return SslError("tls.client_ca " + ca_file);
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
  if (names == nullptr) return SslError("tls.client_ca " + ca_file + " holds no certificate");
  SSL_CTX_set_client_CA_list(native, names);
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_purpose(native, X509_PURPOSE_SSL_CLIENT);
  // Resumed sessions keep the certificate they were made with; OpenSSL
  // resumes a verified session only within the context that made it.
  static constexpr unsigned char kContext[] = "keepd client certificates";
  SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  return {};
}

}  // namespace

Result<void> ConfigureTls(boost::asio::ssl::context& ctx, const TlsFiles& files) {
  const std::string& cert = files.cert;
  const std::string& key = files.key;
  namespace ssl = boost::asio::ssl;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::single_dh_use);
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: forward secrecy and authenticated encryption only. Both 1.2
  // and 1.3 prefer AES-128-GCM: as safe as AES-256 for a registry's
  // traffic, and about a third cheaper per byte, which blob pulls are made
  // of; a client that puts ChaCha20 first (no AES in hardware) gets it.
  if (SSL_CTX_set_cipher_list(native,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384") != 1 ||
      SSL_CTX_set_ciphersuites(native,
                               "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
                               "TLS_AES_256_GCM_SHA384") != 1) {
    return SslError("choosing the cipher suites");
  }
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                                  SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // An idle connection gives its record buffers back (about 34 KiB each).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(cert, ec);
  if (ec) return Fail(ErrorCode::kInternal, "tls.cert " + cert + ": " + ec.message());
  ctx.use_private_key_file(key, ssl::context::pem, ec);
  if (ec) return Fail(ErrorCode::kInternal, "tls.key " + key + ": " + ec.message());
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return Fail(ErrorCode::kInternal, "tls.key does not match tls.cert");
  }
  if (!files.client_ca.empty()) KEEP_TRY(AskForClientCertificates(native, files.client_ca));
  return {};
}

std::string ClientCertificateAccount(SSL* ssl) {
  if (ssl == nullptr) return {};  // a plain connection
  X509* peer = SSL_get0_peer_certificate(ssl);
  // Without a client CA no certificate is asked for; one sent anyway, or
  // one that did not verify (the handshake fails then), names no one.
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK ||
      (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) == 0) {
    return {};
  }
  const X509_NAME* subject = X509_get_subject_name(peer);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  // Exactly one common name: with two, which one names the account would
  // be a guess.
  if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) return {};
  const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, cn);
  if (n <= 0) return {};
  std::string name(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  // A name with a NUL or a control character in it names no account.
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return {};
  }
  if (name.empty()) return {};
  return name.starts_with(kRobotPrefix) ? name : std::string(kRobotPrefix) + name;
}

Result<void> TlsContexts::Load(const TlsFiles& files) {
  boost::asio::ssl::context fresh{boost::asio::ssl::context::tls_server};
  KEEP_TRY(ConfigureTls(fresh, files));
  std::lock_guard lock(mu_);
  files_ = files;
  contexts_.push_back(std::move(fresh));
  return {};
}

Result<void> TlsContexts::Reload() {
  TlsFiles files;
  {
    std::lock_guard lock(mu_);
    files = files_;
  }
  if (files.cert.empty()) return Fail(ErrorCode::kInternal, "no TLS certificate was loaded");
  return Load(files);
}

boost::asio::ssl::context& TlsContexts::Current() {
  std::lock_guard lock(mu_);
  return contexts_.back();
}

bool TlsContexts::loaded() const {
  std::lock_guard lock(mu_);
  return !contexts_.empty();
}

namespace {

// A BIO that appends what is written to the std::vector<char> in its data
// and never blocks: the sink of BodySealer.
int AppendWrite(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  auto* out = static_cast<std::vector<char>*>(BIO_get_data(bio));
  try {
    out->insert(out->end(), data, data + size);
  } catch (const std::bad_alloc&) {
    return 0;  // no exception may cross OpenSSL's C frames: the write fails
  }
  *written = size;
  return 1;
}

long AppendCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int AppendCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* AppendMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "keep body");
    if (m == nullptr || BIO_meth_set_write_ex(m, AppendWrite) != 1 ||
        BIO_meth_set_ctrl(m, AppendCtrl) != 1 || BIO_meth_set_create(m, AppendCreate) != 1) {
      throw std::runtime_error("cannot make the TLS body BIO");
    }
    return m;
  }();
  return method;
}

}  // namespace

BodySealer::BodySealer(SSL* ssl, std::size_t chunk)
    : ssl_(ssl), asio_bio_(SSL_get_wbio(ssl)), modes_(SSL_get_mode(ssl)) {
  // A chunk's records: its bytes, and per record of 16 KiB at most a header,
  // a tag and TLS 1.3's content type (and room for a KeyUpdate answer).
  pending_.reserve(chunk + (chunk / 16384 + 2) * 64);
  BIO* sink = BIO_new(AppendMethod());
  if (sink == nullptr) throw std::bad_alloc();
  BIO_set_data(sink, &pending_);
  // SSL_set0_wbio drops the session's reference to the BIO it replaces:
  // this one keeps it alive until the destructor gives it back.
  BIO_up_ref(asio_bio_);
  SSL_set0_wbio(ssl_, sink);
  // Asio's modes are for its one-record room: here one SSL_write_ex seals a
  // whole chunk, and the record buffer stays allocated between records.
  SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
}

BodySealer::~BodySealer() {
  SSL_set0_wbio(ssl_, asio_bio_);  // frees the sink
  SSL_set_mode(ssl_, modes_ & (SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE));
}

bool BodySealer::Seal(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl_, bytes, size, &written) != 1) {
      ERR_clear_error();
      return false;
    }
    bytes += written;
    size -= written;
  }
  return true;
}

}  // namespace keep::server
