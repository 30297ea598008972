// core/clock.h — wall-clock time as Keep stores and compares it: whole
// seconds since the Unix epoch (created_at, expires_at, token times).
#pragma once

#include "core/error.h"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

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

// A moment as people give it to `--since` and `?since=`: a time ago
// ("90s", "30m", "1h", "2d": a whole number of seconds, minutes, hours or
// days before `now`), or RFC 3339 ("2026-12-02T06:00:00Z",
// "2026-12-02T08:00:00+02:00", fractions of a second ignored). Unix
// seconds; kInvalid, saying what is accepted, for anything else.
[[nodiscard]] Result<std::int64_t> ParseMoment(std::string_view text, std::int64_t now);

}  // namespace keep
