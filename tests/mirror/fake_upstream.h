// tests/mirror/fake_upstream.h — a hostile or quirky upstream for the mirror
// tests: a plain-HTTP loopback server whose every answer the test writes.
//
// It plays what a real registry cannot be made to do on demand: bytes that
// do not match their digest, 503 with Retry-After, a transfer cut short, a
// redirect to another host, a Range header ignored. Each connection has a
// thread of its own; calls to the handler are serialised, so a handler may
// keep state without locks. Destroy the clients before the server.
#pragma once

#include <boost/beast/http/fields.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace keep::testkit {

struct FakeRequest {
  std::string method;
  std::string target;
  boost::beast::http::fields headers;

  std::string Header(std::string_view name) const {
    return std::string(headers[boost::beast::string_view(name.data(), name.size())]);
  }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Send only this many bytes of the body (Content-Length still says all of
  // it), then close the connection.
  std::optional<std::size_t> cut_after;
  // Wait this long before answering (outside the handler's lock).
  std::chrono::milliseconds delay{0};
  // Send only this many bytes of the body, then call `paused` (outside the
  // handler's lock; it may wait for the test), then send the rest.
  std::optional<std::size_t> pause_after;
  std::function<void()> paused;
};

class FakeUpstream {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeUpstream(Handler handler);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }
  int connections() const { return connections_; }
  // The most requests being answered at one time.
  int max_concurrent() const { return max_concurrent_; }

 private:
  void Accept();
  void Serve(int fd);

  Handler handler_;
  std::mutex handler_mu_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_concurrent_{0};
  std::thread acceptor_;
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;
};

}  // namespace keep::testkit
