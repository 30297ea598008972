// core/clock.h — wall-clock time as Keep stores and compares it: whole
// seconds since the Unix epoch (created_at, expires_at, token times).
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>

namespace keep {

inline std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-02T06:00:00Z" (RFC 3339, UTC) for unix seconds.
inline std::string Rfc3339Utc(std::int64_t unix_seconds) {
  std::time_t tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace keep
