#include "auth/throttle.h"

#include <algorithm>

namespace keep {

Result<void> LoginThrottle::Check(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second.locked_until <= now) return {};
  auto wait = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now).count();
  return Fail(ErrorCode::kTooManyRequests,
              "too many failed logins; wait " + std::to_string(wait) + " s before trying again");
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

}  // namespace keep
