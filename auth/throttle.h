// auth/throttle.h — slowing down password guessing.
//
// Failed logins are counted per key (a client address, a user name). The
// first few are free; after that each failure locks the key for twice as
// long as the last, up to a ceiling, and a locked key gets TOOMANYREQUESTS
// without its password being checked. A success clears the key.
//
// Thread-safe.
#pragma once

#include "core/error.h"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace keep {

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

}  // namespace keep
