#include "server/limits.h"

#include "core/metrics.h"

namespace keep::server {

namespace {

RateLimiter::Policy PolicyOf(int per_second, int burst) {
  RateLimiter::Policy p;
  p.per_second = per_second;
  p.burst = burst;
  return p;
}

}  // namespace

Limits::Limits(const Config& config)
    : config_(config),
      by_address_(PolicyOf(config.address_requests_per_second, config.request_burst)),
      by_user_(PolicyOf(config.user_requests_per_second, config.request_burst)) {}

Result<void> Limits::TakeAddress(std::string_view remote) {
  if (!by_address_.enabled()) return {};
  auto taken = by_address_.Take(AddressKey(remote), RateLimiter::Clock::now());
  if (taken) return {};
  metrics::CountLimited(metrics::Limit::kAddressRate);
  return TooManyRequests("too many requests from this address: the registry takes " +
                             std::to_string(config_.address_requests_per_second) +
                             " a second from one address; try again in " +
                             std::to_string(taken.error().retry_after_seconds) + " s",
                         taken.error().retry_after_seconds);
}

Result<void> Limits::TakeUser(const Identity& who) {
  if (who.anonymous() || !by_user_.enabled()) return {};
  auto taken = by_user_.Take(who.user, RateLimiter::Clock::now());
  if (taken) return {};
  metrics::CountLimited(metrics::Limit::kUserRate);
  return TooManyRequests("too many requests by user " + who.user + ": the registry takes " +
                             std::to_string(config_.user_requests_per_second) +
                             " a second from one user; try again in " +
                             std::to_string(taken.error().retry_after_seconds) + " s",
                         taken.error().retry_after_seconds);
}

Result<Limits::UploadSlot> Limits::EnterUpload(const std::string& user) {
  {
    std::lock_guard lock(mu_);
    int& n = uploading_[user];
    if (n < config_.uploads_per_user) {
      ++n;
      return UploadSlot(this, user);
    }
  }
  metrics::CountLimited(metrics::Limit::kConcurrentUploads);
  return TooManyRequests("user " + user + " is uploading " +
                             std::to_string(config_.uploads_per_user) +
                             " bodies at once already, the most limits.uploads_per_user "
                             "allows; send this one when one of them is done",
                         1);
}

void Limits::LeaveUpload(const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = uploading_.find(user);
  if (it == uploading_.end()) return;
  if (--it->second <= 0) uploading_.erase(it);
}

Limits::UploadSlot::UploadSlot(UploadSlot&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), user_(std::move(other.user_)) {}

Limits::UploadSlot& Limits::UploadSlot::operator=(UploadSlot&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->LeaveUpload(user_);
    owner_ = std::exchange(other.owner_, nullptr);
    user_ = std::move(other.user_);
  }
  return *this;
}

Limits::UploadSlot::~UploadSlot() {
  if (owner_) owner_->LeaveUpload(user_);
}

}  // namespace keep::server
