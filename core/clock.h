// core/clock.h — wall-clock time as Keep stores and compares it: whole
// seconds since the Unix epoch (created_at, expires_at, token times).
#pragma once

#include <chrono>
#include <cstdint>

namespace keep {

inline std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace keep
