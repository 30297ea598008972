// What TLS keepd speaks, and its certificate renewed while it serves. 1.2
// and 1.3 only; in 1.2 only suites with forward
// secrecy and authenticated encryption (ECDHE with AES-GCM or
// ChaCha20-Poly1305); AES-128-GCM chosen over AES-256-GCM when the client
// offers both (as safe, and faster); ChaCha20 taken when it is all a client
// offers. SIGHUP makes keepd read its certificate and key again: new
// connections get the new certificate, open ones go on, and files that do
// not make a pair leave the one in use. Each case is a real handshake with
// OpenSSL against a real keepd.
#include "tests/support/keepd_test.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>

namespace keep::testkit {
namespace {

struct Offer {
  int version = TLS1_3_VERSION;   // offered as both the lowest and highest
  const char* ciphers = nullptr;  // TLS 1.2 list; nullptr: OpenSSL's default
  const char* suites = nullptr;   // TLS 1.3 list; nullptr: OpenSSL's default
};

struct Agreed {
  std::string protocol;
  std::string cipher;
};

// One TLS connection to keepd, made with OpenSSL alone, offering `offer`.
class TlsConnection {
 public:
  TlsConnection(std::uint16_t port, const Offer& offer)
      : ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free), ssl_(nullptr, SSL_free) {
    SSL_CTX_set_security_level(ctx_.get(), 0);  // let the client offer what keepd must refuse
    SSL_CTX_set_min_proto_version(ctx_.get(), offer.version);
    SSL_CTX_set_max_proto_version(ctx_.get(), offer.version);
    if (offer.ciphers) {
      EXPECT_EQ(SSL_CTX_set_cipher_list(ctx_.get(), offer.ciphers), 1) << offer.ciphers;
    }
    if (offer.suites) {
      EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx_.get(), offer.suites), 1) << offer.suites;
    }
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "cannot connect to keepd";
      return;
    }
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    established_ = SSL_connect(ssl_.get()) == 1;
    ERR_clear_error();
  }
  ~TlsConnection() {
    if (established_) SSL_shutdown(ssl_.get());
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  bool established() const { return established_; }
  Agreed agreed() const { return {SSL_get_version(ssl_.get()), SSL_get_cipher_name(ssl_.get())}; }
  // The SHA-256 of the certificate keepd presented, in hex.
  std::string PeerCertificate() const {
    std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl_.get()),
                                                     X509_free);
    if (!cert) return "";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    X509_digest(cert.get(), EVP_sha256(), md, &n);
    std::string hex;
    static constexpr char kHex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < n; ++i) {
      hex += kHex[md[i] >> 4];
      hex += kHex[md[i] & 15];
    }
    return hex;
  }
  // Sends a GET and returns the status line of the answer ("" on failure).
  std::string StatusOf(const std::string& path) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size())) <= 0) return "";
    char buf[4096];
    int n = SSL_read(ssl_.get(), buf, sizeof buf);
    if (n <= 0) return "";
    std::string answer(buf, static_cast<std::size_t>(n));
    return answer.substr(0, answer.find("\r\n"));
  }

 private:
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  int fd_ = -1;
  bool established_ = false;
};

// A handshake offering only `offer`; nullopt if keepd refused it.
std::optional<Agreed> Handshake(std::uint16_t port, const Offer& offer) {
  TlsConnection c(port, offer);
  if (!c.established()) return std::nullopt;
  return c.agreed();
}

using TlsPolicyTest = KeepdTest;

TEST_F(TlsPolicyTest, OldProtocolsAreRefused) {
  EXPECT_FALSE(Handshake(keepd_.port(), {.version = TLS1_VERSION, .ciphers = "ALL:@SECLEVEL=0"}));
  EXPECT_FALSE(Handshake(keepd_.port(), {.version = TLS1_1_VERSION, .ciphers = "ALL:@SECLEVEL=0"}));
}

TEST_F(TlsPolicyTest, TlsOneTwoTakesOnlyForwardSecretAeadSuites) {
  // CBC with HMAC, and RSA key transport (no forward secrecy): refused.
  for (const char* weak : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                           "ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256", "AES256-SHA"}) {
    EXPECT_FALSE(Handshake(keepd_.port(), {.version = TLS1_2_VERSION, .ciphers = weak})) << weak;
  }
  // What a client offers by default: ECDHE with AES-128-GCM.
  auto agreed = Handshake(keepd_.port(), {.version = TLS1_2_VERSION});
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->protocol, "TLSv1.2");
  EXPECT_EQ(agreed->cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
  // A client without AES in hardware offers ChaCha20 first and gets it.
  agreed = Handshake(keepd_.port(), {.version = TLS1_2_VERSION,
                                     .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                                "ECDHE-ECDSA-AES256-GCM-SHA384"});
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->cipher, "ECDHE-ECDSA-CHACHA20-POLY1305");
}

TEST_F(TlsPolicyTest, TlsOneThreePrefersAesOneTwentyEight) {
  // OpenSSL's clients offer AES-256-GCM first; keepd picks AES-128-GCM.
  auto agreed = Handshake(keepd_.port(), {});
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->protocol, "TLSv1.3");
  EXPECT_EQ(agreed->cipher, "TLS_AES_128_GCM_SHA256");
  agreed = Handshake(keepd_.port(), {.suites = "TLS_AES_256_GCM_SHA384"});
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->cipher, "TLS_AES_256_GCM_SHA384");
  agreed = Handshake(keepd_.port(), {.suites = "TLS_CHACHA20_POLY1305_SHA256"});
  ASSERT_TRUE(agreed);
  EXPECT_EQ(agreed->cipher, "TLS_CHACHA20_POLY1305_SHA256");
}

// Writes a new self-signed certificate and key for 127.0.0.1 over dir's
// server.crt and server.key.
void NewCertificate(const std::filesystem::path& dir) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
      "-keyout '" +
      (dir / "server.key.new").string() + "' -out '" + (dir / "server.crt.new").string() +
      "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::filesystem::rename(dir / "server.key.new", dir / "server.key");
  std::filesystem::rename(dir / "server.crt.new", dir / "server.crt");
}

// Sends keepd a signal: the process whose command line names a file in the
// directory above its data directory (its config).
bool Signal(const KeepdProcess& keepd, int signal) {
  const std::string dir = keepd.data_dir().parent_path().string() + "/";
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find("keepd") != std::string::npos && cmdline.find(dir) != std::string::npos) {
      return ::kill(std::stoi(name), signal) == 0;
    }
  }
  return false;
}

TEST_F(TlsPolicyTest, SighupLoadsARenewedCertificateForNewConnections) {
  TlsConnection before(keepd_.port(), {});
  ASSERT_TRUE(before.established());
  const std::string first = before.PeerCertificate();
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(before.StatusOf("/healthz"), "HTTP/1.1 200 OK");

  const std::filesystem::path tls = keepd_.data_dir() / "tls";
  NewCertificate(tls);
  ASSERT_TRUE(Signal(keepd_, SIGHUP));
  ASSERT_NE(keepd_.MessageWhen("reloaded the TLS certificate", std::chrono::seconds(5)), "")
      << keepd_.Messages();
  EXPECT_TRUE(keepd_.running());

  TlsConnection after(keepd_.port(), {});
  ASSERT_TRUE(after.established());
  const std::string second = after.PeerCertificate();
  EXPECT_NE(second, first);
  EXPECT_EQ(after.StatusOf("/healthz"), "HTTP/1.1 200 OK");
  // The connection made before goes on, with its certificate.
  EXPECT_EQ(before.StatusOf("/healthz"), "HTTP/1.1 200 OK");

  // A key that does not match the certificate: the one in use stays.
  const std::string kept_key = (tls / "server.key.kept").string();
  std::filesystem::copy_file(tls / "server.key", kept_key);
  NewCertificate(tls);
  std::filesystem::rename(kept_key, tls / "server.key");
  ASSERT_TRUE(Signal(keepd_, SIGHUP));
  ASSERT_NE(keepd_.MessageWhen("kept the TLS certificate in use", std::chrono::seconds(5)), "")
      << keepd_.Messages();
  TlsConnection third(keepd_.port(), {});
  ASSERT_TRUE(third.established());
  EXPECT_EQ(third.PeerCertificate(), second);
  EXPECT_EQ(third.StatusOf("/healthz"), "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace keep::testkit
