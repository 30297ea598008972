// server/limits.h — how much one client address or one user may ask of
// keepd at a time, beyond the size and time limits of a single request.
//
// - Requests per second per client address (an IPv6 client counts by its
//   /64, the block one host is usually given) and per user, each a token
//   bucket (auth/throttle.h).
// - Upload requests receiving a body at the same time, per user.
// Each refusal is TOOMANYREQUESTS with Retry-After. The limits on a user's
// open upload sessions and the bytes they hold live with the uploads
// (server/handlers/uploads.cc), which know the sessions.
//
// Thread-safe. What it counts is this process's: with several replicas a
// client may have each replica's allowance.
#pragma once

#include "auth/auth.h"
#include "auth/throttle.h"
#include "config/config.h"
#include "core/error.h"

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace keep::server {

class Limits {
 public:
  explicit Limits(const Config& config);
  Limits(const Limits&) = delete;
  Limits& operator=(const Limits&) = delete;

  // One request from `remote`; refused past limits.address_requests_per_second.
  [[nodiscard]] Result<void> TakeAddress(std::string_view remote);
  // One request by `who` (anonymous callers are counted by address only);
  // refused past limits.user_requests_per_second.
  [[nodiscard]] Result<void> TakeUser(const Identity& who);

  // Held while one upload request receives its body.
  class UploadSlot {
   public:
    UploadSlot() = default;
    UploadSlot(UploadSlot&& other) noexcept;
    UploadSlot& operator=(UploadSlot&& other) noexcept;
    ~UploadSlot();

   private:
    friend class Limits;
    UploadSlot(Limits* owner, std::string user) : owner_(owner), user_(std::move(user)) {}
    Limits* owner_ = nullptr;
    std::string user_;
  };
  // A slot for `user`, or TOOMANYREQUESTS while limits.uploads_per_user of
  // theirs are receiving bodies already.
  [[nodiscard]] Result<UploadSlot> EnterUpload(const std::string& user);

 private:
  void LeaveUpload(const std::string& user);

  const Config& config_;
  RateLimiter by_address_;
  RateLimiter by_user_;
  std::mutex mu_;
  std::unordered_map<std::string, int> uploading_;  // GUARDED_BY(mu_)
};

}  // namespace keep::server
