// What TLS keepd speaks: 1.2 and 1.3 only; in 1.2 only suites with forward
// secrecy and authenticated encryption (ECDHE with AES-GCM or
// ChaCha20-Poly1305); AES-128-GCM chosen over AES-256-GCM when the client
// offers both (as safe, and faster); ChaCha20 taken when it is all a client
// offers. Each case is a real handshake with OpenSSL against a real keepd.
#include "tests/support/keepd_test.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

// A handshake offering only `offer`; nullopt if keepd refused it.
std::optional<Agreed> Handshake(std::uint16_t port, const Offer& offer) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX_set_security_level(ctx.get(), 0);  // let the client offer what keepd must refuse
  SSL_CTX_set_min_proto_version(ctx.get(), offer.version);
  SSL_CTX_set_max_proto_version(ctx.get(), offer.version);
  if (offer.ciphers) {
    EXPECT_EQ(SSL_CTX_set_cipher_list(ctx.get(), offer.ciphers), 1) << offer.ciphers;
  }
  if (offer.suites) {
    EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx.get(), offer.suites), 1) << offer.suites;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    ADD_FAILURE() << "cannot connect to keepd";
    return std::nullopt;
  }
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  std::optional<Agreed> agreed;
  if (SSL_connect(ssl.get()) == 1) {
    agreed = Agreed{SSL_get_version(ssl.get()), SSL_get_cipher_name(ssl.get())};
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return agreed;
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

}  // namespace
}  // namespace keep::testkit
