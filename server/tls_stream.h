// server/tls_stream.h — a TLS connection served with OpenSSL over a
// beast::tcp_stream, holding buffers only while it has bytes in them.
//
// Asio's TLS stream gives every connection two 17 KiB buffers of its own
// and a BIO pair of two more, for as long as it lives: about 70 KiB for a
// connection that only waits for its next request. Here the records come
// in through a buffer made when bytes arrive and given back (Release) while
// the connection is idle, and go out through one that holds what one write
// sealed until it is sent. A connection waiting for a request then holds
// OpenSSL's session and a few hundred bytes.
//
// It is a Beast stream (AsyncReadStream, AsyncWriteStream), with
// next_layer() the beast::tcp_stream whose deadline bounds every wait on
// the socket. Its state lives on the heap: moving it keeps the BIOs' view of
// its buffers valid. Belongs to the one coroutine serving the connection.
#pragma once

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace keep::server {

class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;
  using Result = std::pair<boost::system::error_code, std::size_t>;

  // A server's end of a connection, with a new session of `tls`.
  TlsStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls);
  ~TlsStream();
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;

  executor_type get_executor() { return next_layer().get_executor(); }
  next_layer_type& next_layer();
  SSL* native_handle();

  // The server's handshake, with `first` the bytes already read from the
  // socket (the start of the client's hello).
  boost::asio::awaitable<boost::system::error_code> Handshake(boost::asio::const_buffer first);
  // Sends close_notify (not waiting for the peer's).
  boost::asio::awaitable<void> Shutdown();
  // Gives back the buffers that hold nothing, e.g. while the connection
  // waits for its next request. The next bytes that arrive are read into a
  // few bytes of its own first.
  void Release();

  // Beast's stream operations: SSL_read into the first of `buffers`, and
  // SSL_write of `buffers` (sent whole before it completes).
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return Initiate(std::forward<Token>(token), [this, buffers] {
      return ReadSome(*boost::asio::buffer_sequence_begin(buffers));
    });
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return Initiate(std::forward<Token>(token), [this, buffers] {
      std::vector<boost::asio::const_buffer> list(boost::asio::buffer_sequence_begin(buffers),
                                                  boost::asio::buffer_sequence_end(buffers));
      return WriteSome(std::move(list));
    });
  }

  // The connection's state (the socket, the session, the buffers): opaque.
  struct State;

 private:
  template <class Token, class Start>
  auto Initiate(Token&& token, Start start) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, Start begin) {
          boost::asio::co_spawn(
              get_executor(), begin(),
              [h = std::move(handler)](const std::exception_ptr& e, Result r) mutable {
                if (e) r = {boost::asio::error::fault, 0};
                std::move(h)(r.first, r.second);
              });
        },
        token, std::move(start));
  }

  boost::asio::awaitable<Result> ReadSome(boost::asio::mutable_buffer into);
  boost::asio::awaitable<Result> WriteSome(std::vector<boost::asio::const_buffer> from);
  // Sends what OpenSSL wrote; an error when the socket failed.
  boost::asio::awaitable<boost::system::error_code> Flush();
  // Reads from the socket what OpenSSL asked for.
  boost::asio::awaitable<boost::system::error_code> Fill();

  std::unique_ptr<State> state_;
};

}  // namespace keep::server
