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
#include <boost/asio/compose.hpp>
#include <boost/asio/coroutine.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace keep::server {

// Completes an awaited operation with its error code and results as a tuple,
// rather than throwing.
inline constexpr auto kAwait = boost::asio::as_tuple(boost::asio::use_awaitable);

class TlsStream {
 public:
  using next_layer_type = boost::beast::tcp_stream;
  using executor_type = next_layer_type::executor_type;

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

  // Beast's stream operations: SSL_read into `buffers` (as many records as
  // fit and have arrived), and SSL_write of `buffers` (sent whole before it
  // completes). Composed operations on the connection's executor: no new
  // coroutine, no hop to another thread.
  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        ReadOp{{}, this, *boost::asio::buffer_sequence_begin(buffers)}, token, next_layer());
  }
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    boost::system::error_code ec;
    std::size_t sealed = SealAll(buffers, ec);
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        WriteOp{{}, this, sealed, ec}, token, next_layer());
  }

  // The connection's state (the socket, the session, the buffers): opaque.
  struct State;

 private:
  // What a read needs next: nothing (done, with `n` bytes or `ec`), bytes
  // from the socket, or the sending of what OpenSSL wrote meanwhile.
  struct Step {
    enum What { kDone, kFill, kFlush } what = kDone;
    boost::system::error_code ec;
    std::size_t n = 0;
  };
  Step ReadStep(boost::asio::mutable_buffer into);
  boost::asio::mutable_buffer FillRoom();
  boost::system::error_code Filled(boost::system::error_code ec, std::size_t n);
  boost::asio::const_buffer Pending();
  void Sent();
  // Seals `n` bytes into records; the bytes sealed (all, or 0 with ec).
  std::size_t Seal(const void* data, std::size_t n, boost::system::error_code& ec);
  static constexpr std::size_t kRecord = 16 * 1024;    // pieces up to this are sealed together
  static constexpr std::size_t kWriteMax = 64 * 1024;  // most one write seals
  static char* JoinBuffer();                           // kRecord bytes, this thread's

  template <class ConstBuffers>
  std::size_t SealAll(const ConstBuffers& buffers, boost::system::error_code& ec) {
    auto begin = boost::asio::buffer_sequence_begin(buffers);
    auto end = boost::asio::buffer_sequence_end(buffers);
    std::size_t total = boost::asio::buffer_size(buffers);
    if (total == 0) return 0;
    if (std::distance(begin, end) > 1 && total <= kRecord) {
      char* joined = JoinBuffer();
      std::size_t at = 0;
      for (auto it = begin; it != end; ++it) {
        boost::asio::const_buffer b = *it;
        std::memcpy(joined + at, b.data(), b.size());
        at += b.size();
      }
      return Seal(joined, total, ec);
    }
    std::size_t sealed = 0;
    for (auto it = begin; it != end && sealed < kWriteMax && !ec; ++it) {
      boost::asio::const_buffer b = *it;
      std::size_t n = std::min(b.size(), kWriteMax - sealed);
      if (n > 0) sealed += Seal(b.data(), n, ec);
    }
    return ec ? 0 : sealed;
  }

  struct ReadOp : boost::asio::coroutine {
    TlsStream* s;
    boost::asio::mutable_buffer into;
    Step step{};
    bool waited = false;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t n = 0) {
      BOOST_ASIO_CORO_REENTER(*this) {
        for (;;) {
          step = s->ReadStep(into);
          if (step.what == Step::kFlush) {
            waited = true;
            BOOST_ASIO_CORO_YIELD boost::asio::async_write(s->next_layer(), s->Pending(),
                                                           std::move(self));
            s->Sent();
            if (ec) {
              step = {Step::kDone, ec, 0};
              break;
            }
            if (step.n > 0) break;  // bytes read before OpenSSL had something to send
            continue;
          }
          if (step.what == Step::kDone) break;
          waited = true;
          BOOST_ASIO_CORO_YIELD s->next_layer().async_read_some(s->FillRoom(), std::move(self));
          if (ec = s->Filled(ec, n); ec) {
            step = {Step::kDone, ec, 0};
            break;
          }
        }
        // An answer ready at once is still given from the executor, never
        // from within the call that asked for it.
        if (!waited) {
          BOOST_ASIO_CORO_YIELD boost::asio::post(s->get_executor(), std::move(self));
        }
        self.complete(step.ec, step.n);
      }
    }
  };

  struct WriteOp : boost::asio::coroutine {
    TlsStream* s;
    std::size_t sealed;
    boost::system::error_code failed;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t = 0) {
      BOOST_ASIO_CORO_REENTER(*this) {
        if (failed || sealed == 0) {
          BOOST_ASIO_CORO_YIELD boost::asio::post(s->get_executor(), std::move(self));
          self.complete(failed, 0);
          return;
        }
        BOOST_ASIO_CORO_YIELD boost::asio::async_write(s->next_layer(), s->Pending(),
                                                       std::move(self));
        s->Sent();
        self.complete(ec, ec ? 0 : sealed);
      }
    }
  };

  // Sends what OpenSSL wrote; an error when the socket failed.
  boost::asio::awaitable<boost::system::error_code> Flush();
  // Reads from the socket what OpenSSL asked for.
  boost::asio::awaitable<boost::system::error_code> Fill();

  std::unique_ptr<State> state_;
};

}  // namespace keep::server
