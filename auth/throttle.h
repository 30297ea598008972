// auth/throttle.h — slowing down password guessing.
//
// Failed logins are counted per key (a client address, a user name). The
// first few are free; after that each failure locks the key for twice as
// long as the last, up to a ceiling, and a locked key gets TOOMANYREQUESTS
// without its password being checked. A success clears the key.
//
// RateLimiter is a token bucket per key: `burst` requests at once, then
// `per_second` on average; a request over it gets TOOMANYREQUESTS naming
// how long until one more would pass.
//
// Thread-safe.
#pragma once

#include "core/error.h"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep {

// The key a client address is counted under: an IPv4 address (also when
// mapped into IPv6) as it is, an IPv6 address by its first 64 bits, the
// block one host is usually given (so that it cannot start afresh from
// each of its addresses); anything else as it is.
std::string AddressKey(std::string_view remote);

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  struct Policy {
    int free_failures = 5;
    std::chrono::seconds first_lock{1};
    std::chrono::seconds max_lock{300};
    std::size_t max_keys = 100000;  // memory bound: the table is reset past it
  };

  LoginThrottle() : LoginThrottle(Policy{}) {}
  explicit LoginThrottle(Policy policy) : policy_(policy) {}

  // kTooManyRequests while `key` is locked; the message says how long to wait.
  [[nodiscard]] Result<void> Check(const std::string& key, Clock::time_point now);
  void Failure(const std::string& key, Clock::time_point now);
  void Success(const std::string& key);

 private:
  struct State {
    int failures = 0;
    Clock::time_point locked_until{};
  };
  Policy policy_;
  std::mutex mu_;
  std::unordered_map<std::string, State> keys_;  // GUARDED_BY(mu_)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Policy {
    double per_second = 0;  // 0: no limit
    int burst = 1;
    std::size_t max_keys = 100000;  // memory bound (see Prune)
  };

  explicit RateLimiter(Policy policy);

  bool enabled() const { return policy_.per_second > 0; }
  // Takes one request's token from `key`'s bucket, or kTooManyRequests
  // with retry_after_seconds set and an empty message (the caller says
  // which limit it was).
  [[nodiscard]] Result<void> Take(const std::string& key, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last{};
  };
  void Prune(Clock::time_point now);  // needs mu_

  Policy policy_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
};

}  // namespace keep
