#include "server/tls_stream.h"

#include <openssl/err.h>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace keep::server {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// One socket read takes up to this much: a few records at once while a
// body arrives.
constexpr std::size_t kReadChunk = 64 * 1024;
// What a connection that was idle reads into first: a request's header,
// usually whole. Small enough to come from malloc's caches, which a 64 KiB
// buffer made and freed for every request did not (each free of one made
// malloc consolidate its free lists).
constexpr std::size_t kFirstChunk = 4 * 1024;

// Received bytes not yet given to OpenSSL: [begin, end) of data.
struct Inbox {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0, begin = 0, end = 0;

  std::size_t size() const { return end - begin; }
  void Release() {
    data.reset();
    capacity = begin = end = 0;
  }
  // Room for `n` more bytes after what it holds (moved to the front).
  char* Room(std::size_t n) {
    if (begin > 0) {
      std::memmove(data.get(), data.get() + begin, size());
      end -= begin;
      begin = 0;
    }
    if (capacity - end < n) {
      auto bigger = std::make_unique_for_overwrite<char[]>(end + n);
      if (end > 0) std::memcpy(bigger.get(), data.get(), end);
      data = std::move(bigger);
      capacity = end + n;
    }
    return data.get() + end;
  }
};

error_code ErrorOf(int ssl_error) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0 || ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return ssl_error == SSL_ERROR_SYSCALL || e != 0 ? error_code(asio::ssl::error::stream_truncated)
                                                    : error_code(asio::error::fault);
  }
  return {static_cast<int>(e), asio::error::get_ssl_category()};
}

}  // namespace

struct TlsStream::State {
  State(asio::ip::tcp::socket socket, asio::ssl::context& tls)
      : tcp(std::move(socket)), ssl(SSL_new(tls.native_handle()), SSL_free) {}

  boost::beast::tcp_stream tcp;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl;
  Inbox in;
  bool in_eof = false;           // the peer closed its side
  std::vector<char> out;         // records sealed, not yet sent
  std::array<char, 64> first{};  // where the first bytes after Release arrive
};

namespace {

// The BIO between OpenSSL and a TlsStream's State: reads come from its
// inbox (a retry when it is empty, the end once the peer closed), writes
// are appended to its outbox. It never blocks.
int StateRead(BIO* bio, char* buf, std::size_t size, std::size_t* got) {
  auto* s = static_cast<TlsStream::State*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (s->in.size() == 0) {
    if (!s->in_eof) BIO_set_retry_read(bio);
    *got = 0;
    return 0;
  }
  std::size_t n = std::min(size, s->in.size());
  std::memcpy(buf, s->in.data.get() + s->in.begin, n);
  s->in.begin += n;
  if (s->in.size() == 0) s->in.begin = s->in.end = 0;
  *got = n;
  return 1;
}

int StateWrite(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  auto* s = static_cast<TlsStream::State*>(BIO_get_data(bio));
  try {
    s->out.insert(s->out.end(), data, data + size);
  } catch (const std::bad_alloc&) {
    return 0;  // no exception may cross OpenSSL's C frames: the write fails
  }
  *written = size;
  return 1;
}

long StateCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int StateCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* StateMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "keep tls");
    if (m == nullptr || BIO_meth_set_read_ex(m, StateRead) != 1 ||
        BIO_meth_set_write_ex(m, StateWrite) != 1 || BIO_meth_set_ctrl(m, StateCtrl) != 1 ||
        BIO_meth_set_create(m, StateCreate) != 1) {
      throw std::runtime_error("cannot make the TLS connection BIO");
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsStream::TlsStream(asio::ip::tcp::socket socket, asio::ssl::context& tls)
    : state_(std::make_unique<State>(std::move(socket), tls)) {
  SSL* ssl = state_->ssl.get();
  BIO* bio = BIO_new(StateMethod());
  if (ssl == nullptr || bio == nullptr) {
    BIO_free(bio);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, state_.get());
  SSL_set_bio(ssl, bio, bio);  // the session owns it from here
  SSL_set_accept_state(ssl);
}

TlsStream::~TlsStream() = default;
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;

TlsStream::next_layer_type& TlsStream::next_layer() { return state_->tcp; }
SSL* TlsStream::native_handle() { return state_->ssl.get(); }

void TlsStream::Release() {
  if (state_->in.size() == 0) state_->in.Release();
  if (state_->out.empty()) std::vector<char>().swap(state_->out);
}

asio::awaitable<error_code> TlsStream::Flush() {
  State& s = *state_;
  if (s.out.empty()) co_return error_code{};
  auto [ec, n] = co_await asio::async_write(s.tcp, asio::buffer(s.out), kAwait);
  s.out.clear();
  co_return ec;
}

asio::awaitable<error_code> TlsStream::Fill() {
  auto [ec, n] = co_await state_->tcp.async_read_some(FillRoom(), kAwait);
  co_return Filled(ec, n);
}

asio::awaitable<error_code> TlsStream::Handshake(asio::const_buffer first) {
  State& s = *state_;
  std::memcpy(s.in.Room(std::max(first.size(), kReadChunk)), first.data(), first.size());
  s.in.end += first.size();
  while (true) {
    ERR_clear_error();
    int r = SSL_do_handshake(s.ssl.get());
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s.ssl.get(), r);
    // What the handshake wrote goes out whatever happened (an alert, too).
    if (error_code ec = co_await Flush(); ec) co_return ec;
    if (err == SSL_ERROR_NONE) co_return error_code{};
    if (err != SSL_ERROR_WANT_READ) co_return ErrorOf(err);
    if (error_code ec = co_await Fill(); ec) co_return ec;
  }
}

asio::awaitable<void> TlsStream::Shutdown() {
  ERR_clear_error();
  SSL_shutdown(state_->ssl.get());
  ERR_clear_error();
  co_await Flush();
}

TlsStream::Step TlsStream::ReadStep(asio::mutable_buffer into) {
  State& s = *state_;
  auto* at = static_cast<char*>(into.data());
  std::size_t got = 0;
  Step step;
  // As many records as have arrived and fit: one read for several.
  while (got < into.size()) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(s.ssl.get(), at + got, into.size() - got, &n);
    if (r == 1) {
      got += n;
      continue;
    }
    int err = SSL_get_error(s.ssl.get(), r);
    if (got > 0) {
      ERR_clear_error();  // told at the next read, if it was more than a wait
      break;
    }
    if (err == SSL_ERROR_WANT_READ) {
      step.what = Step::kFill;
    } else if (err == SSL_ERROR_ZERO_RETURN) {
      step.ec = asio::error::eof;  // close_notify
    } else {
      step.ec = ErrorOf(err);
    }
    break;
  }
  step.n = got;
  // Reading may have made records to send (a KeyUpdate's answer, tickets):
  // they go first.
  if (!s.out.empty() && !step.ec) step.what = Step::kFlush;
  return step;
}

asio::mutable_buffer TlsStream::FillRoom() {
  State& s = *state_;
  // Idle until now: the first bytes go to a few bytes of the stream's own,
  // and a buffer is made only once they are here.
  if (s.in.capacity == 0) return asio::buffer(s.first);
  // The first buffer is filled before reads take kReadChunk at a time.
  std::size_t want = s.in.capacity <= kFirstChunk && s.in.size() < kFirstChunk
                         ? kFirstChunk - s.in.size()
                         : kReadChunk;
  return {s.in.Room(want), want};
}

error_code TlsStream::Filled(error_code ec, std::size_t n) {
  State& s = *state_;
  if (s.in.capacity == 0 && n > 0) {
    std::memcpy(s.in.Room(kFirstChunk), s.first.data(), n);
  }
  s.in.end += n;
  if (ec == asio::error::eof) {
    if (s.in_eof) return ec;  // OpenSSL was told already, and asked again
    s.in_eof = true;          // OpenSSL tells a close_notify from a cut
    return {};
  }
  return ec;
}

asio::const_buffer TlsStream::Pending() { return asio::buffer(state_->out); }

void TlsStream::Sent() { state_->out.clear(); }

std::size_t TlsStream::Seal(const void* data, std::size_t n, error_code& ec) {
  ERR_clear_error();
  std::size_t written = 0;
  int r = SSL_write_ex(state_->ssl.get(), data, n, &written);
  if (r != 1) {
    ec = ErrorOf(SSL_get_error(state_->ssl.get(), r));
    return 0;
  }
  return written;
}

char* TlsStream::JoinBuffer() {
  thread_local std::array<char, kRecord> joined;
  return joined.data();
}

}  // namespace keep::server
