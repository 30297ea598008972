#include "tests/mirror/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace keep::testkit {

namespace asio = boost::asio;
namespace http = boost::beast::http;

FakeUpstream::FakeUpstream(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("fake upstream cannot listen: ") + std::strerror(errno));
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

FakeUpstream::~FakeUpstream() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  ::close(listen_fd_);
  std::lock_guard lock(threads_mu_);
  for (auto& t : threads_) t.join();
}

void FakeUpstream::Accept() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;
    }
    // A client that goes quiet does not keep the server (and the test) alive.
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ++connections_;
    std::lock_guard lock(threads_mu_);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeUpstream::Serve(int fd) {
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  boost::system::error_code ec;
  socket.assign(asio::ip::tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  boost::beast::flat_buffer buffer;
  while (!stopping_) {
    http::request<http::string_body> req;
    http::read(socket, buffer, req, ec);
    if (ec) break;
    ++requests_;
    int now = ++in_flight_;
    for (int seen = max_concurrent_;
         now > seen && !max_concurrent_.compare_exchange_weak(seen, now);) {
    }
    FakeRequest request{std::string(req.method_string()), std::string(req.target()), req.base()};
    FakeResponse response;
    {
      std::lock_guard lock(handler_mu_);
      response = handler_(request);
    }
    std::this_thread::sleep_for(response.delay);
    std::string head =
        "HTTP/1.1 " + std::to_string(response.status) + " " +
        std::string(http::obsolete_reason(static_cast<http::status>(response.status))) + "\r\n";
    for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
    head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
    std::size_t body_bytes =
        response.cut_after.value_or(response.pause_after.value_or(response.body.size()));
    head.append(response.body, 0, body_bytes);
    --in_flight_;
    asio::write(socket, asio::buffer(head), ec);
    if (!ec && response.pause_after && !response.cut_after) {
      if (response.paused) response.paused();
      asio::write(
          socket,
          asio::buffer(response.body.data() + body_bytes, response.body.size() - body_bytes), ec);
    }
    if (ec || response.cut_after) break;
  }
  socket.close(ec);
}

}  // namespace keep::testkit
