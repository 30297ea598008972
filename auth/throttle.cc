#include "auth/throttle.h"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cmath>

namespace keep {

std::string AddressKey(std::string_view remote) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(remote, ec);
  if (ec) return std::string(remote);
  if (address.is_v4()) return address.to_string();
  auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

Result<void> LoginThrottle::Check(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.locked_until <= now) return {};
  auto wait = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now).count();
  return TooManyRequests(
      "too many failed logins; wait " + std::to_string(wait) + " s before trying again",
      static_cast<int>(wait));
}

void LoginThrottle::Failure(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (keys_.size() >= policy_.max_keys && !keys_.count(key)) keys_.clear();
  State& s = keys_[key];
  ++s.failures;
  int over = s.failures - policy_.free_failures;
  if (over <= 0) return;
  auto lock_for = policy_.first_lock * (1LL << std::min(over - 1, 20));
  s.locked_until = now + std::min<std::chrono::seconds>(lock_for, policy_.max_lock);
}

void LoginThrottle::Success(const std::string& key) {
  std::lock_guard lock(mu_);
  keys_.erase(key);
}

RateLimiter::RateLimiter(Policy policy) : policy_(policy) {}

Result<void> RateLimiter::Take(const std::string& key, Clock::time_point now) {
  if (!enabled()) return {};
  const double burst = static_cast<double>(std::max(policy_.burst, 1));
  const double rate = policy_.per_second;
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= policy_.max_keys) Prune(now);
    it = buckets_.emplace(key, Bucket{burst, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst, b.tokens + elapsed * rate);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {};
  }
  // Whole seconds until a token is back, at least one.
  const int wait = std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / rate)));
  return TooManyRequests("", wait);
}

void RateLimiter::Prune(Clock::time_point now) {
  // A bucket that has refilled whole is as good as none: dropping it loses
  // nothing. When that frees too little, the table starts over rather than
  // grow: keys then start with a full burst, which bounds memory without
  // refusing anyone wrongly.
  const double burst = static_cast<double>(std::max(policy_.burst, 1));
  std::erase_if(buckets_, [&](const auto& kv) {
    const double elapsed = std::chrono::duration<double>(now - kv.second.last).count();
    return kv.second.tokens + elapsed * policy_.per_second >= burst;
  });
  if (buckets_.size() >= policy_.max_keys * 9 / 10) buckets_.clear();
}

}  // namespace keep
