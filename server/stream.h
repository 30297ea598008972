// server/stream.h — a client connection as sessions and handlers see it:
// TLS over TCP, or plain TCP on a listener with TLS turned off (a replica
// behind a load balancer that terminates TLS). Which one is fixed when the
// connection is accepted. It is a Beast stream (AsyncReadStream,
// AsyncWriteStream, and get_lowest_layer gives the beast::tcp_stream with
// its deadline), so that parsers and writers need not know which. Belongs to
// the one coroutine serving the connection.
#pragma once

#include "server/tls_stream.h"

#include <openssl/ssl.h>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <optional>
#include <utility>

namespace keep::server {

class Stream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

  // A TLS connection, its handshake not yet made.
  Stream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
      : tls_(std::in_place, std::move(socket), tls) {}
  // A plain TCP connection.
  explicit Stream(boost::asio::ip::tcp::socket socket) : plain_(std::in_place, std::move(socket)) {}

  executor_type get_executor() { return next_layer().get_executor(); }
  next_layer_type& next_layer() { return tls_ ? tls_->next_layer() : *plain_; }

  // The TLS layer, or nullptr on a plain connection.
  TlsStream* tls() { return tls_ ? &*tls_ : nullptr; }
  // The OpenSSL session, or nullptr on a plain connection.
  SSL* native_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_->async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            plain_->async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

 private:
  std::optional<TlsStream> tls_;
  std::optional<boost::beast::tcp_stream> plain_;
};

}  // namespace keep::server
