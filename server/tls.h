// server/tls.h — the TLS context (TLS 1.2+), for a development setup a
// self-signed certificate made on first start, and the sealing of large
// response bodies many records at a time.
#pragma once

#include "core/error.h"

#include <openssl/ssl.h>
#include <boost/asio/ssl/context.hpp>

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace keep::server {

struct CertPaths {
  std::string cert;
  std::string key;
  bool created = false;  // made just now
};

// Returns dir/server.crt and dir/server.key, creating a self-signed ECDSA
// P-256 certificate for localhost, 127.0.0.1 and ::1 (and this host's name)
// when they do not exist. The key is written 0600.
[[nodiscard]] Result<CertPaths> EnsureSelfSignedCertificate(const std::string& dir);

// What a TLS context is loaded from (PEM files).
struct TlsFiles {
  std::string cert;
  std::string key;
  // CAs whose client certificates name robot accounts (tls.client_ca);
  // empty: no client certificate is asked for.
  std::string client_ca;
};

[[nodiscard]] Result<void> ConfigureTls(boost::asio::ssl::context& ctx, const TlsFiles& files);

// The robot account a connection's client certificate names: the common
// name of a certificate that verified against tls.client_ca, with
// "robot+" before it unless it starts so. Empty when the client sent none
// (or no client CA is configured), and for nullptr (a plain connection).
std::string ClientCertificateAccount(SSL* ssl);

// The TLS context new connections are given, loaded again from its files on
// request (keepd does it on SIGHUP) without touching the connections open:
// each keeps the context it started with. A load that fails (a missing
// file, a key that does not match the certificate) keeps the current one.
// Thread-safe.
class TlsContexts {
 public:
  // Loads the files into the first context.
  [[nodiscard]] Result<void> Load(const TlsFiles& files);
  // Loads the files last given to Load again, into a new context.
  [[nodiscard]] Result<void> Reload();
  // The context for a new connection. Valid as long as this object: the
  // contexts replaced are kept, a few hundred bytes each.
  boost::asio::ssl::context& Current();
  bool loaded() const;

 private:
  mutable std::mutex mu_;
  TlsFiles files_;
  std::list<boost::asio::ssl::context> contexts_;  // the last is current; GUARDED_BY(mu_)
};

// Seals a response body into TLS records many at a time, for the caller to
// send with one write on the socket. Asio's TLS stream hands OpenSSL one
// record's room at a time and copies each record out through a BIO pair:
// for a blob that is a copy, a send and an asynchronous operation per 16 KiB,
// which cost a registry more CPU than the encryption. While a BodySealer
// lives, the session's records go to its buffer instead of Asio's BIO; its
// destructor puts Asio's back. Only for a session whose handshake is done
// and whose earlier output has all been sent (an Asio write completed), and
// nothing else may write to the session meanwhile. Not thread-safe.
class BodySealer {
 public:
  // chunk: the most a Seal is given at once (its buffer is reserved for it).
  BodySealer(SSL* ssl, std::size_t chunk);
  ~BodySealer();
  BodySealer(const BodySealer&) = delete;
  BodySealer& operator=(const BodySealer&) = delete;

  // Appends the records holding data to pending(); false on a TLS failure
  // (the connection is then to be closed).
  [[nodiscard]] bool Seal(const void* data, std::size_t size);
  std::span<const char> pending() const { return pending_; }
  void Sent() { pending_.clear(); }

 private:
  SSL* ssl_;
  BIO* asio_bio_;  // Asio's end of its BIO pair, put back when done
  std::uint64_t modes_;  // the session's modes before, given back after
  std::vector<char> pending_;
};

}  // namespace keep::server
