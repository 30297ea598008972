// cli/error.h — how keepctl fails.
//
// A Failure is a value: what to print after "keepctl: ", an optional hint on
// the next line, and the exit status (1: the operation failed, 2: the command
// line was wrong). Functions that can fail return Result<T>, which is
// boost::system::result<T, Failure>, as the rest of Keep does with its own
// Error. Thread-safe: plain values.
#pragma once

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <utility>

namespace keep::cli {

enum class Exit : int { kOk = 0, kFailed = 1, kUsage = 2 };

struct Failure {
  Exit exit = Exit::kFailed;
  std::string message;
  std::string hint;  // printed after "hint: " on a line of its own (each line); may be empty
  int http_status = 0;  // the server's answer, when it was one
};

template <class T>
using Result = boost::system::result<T, Failure>;

inline Failure Failed(std::string message, std::string hint = {}) {
  return Failure{Exit::kFailed, std::move(message), std::move(hint)};
}

// A bad command line: always ends with the hint to read --help.
inline Failure Usage(std::string message, const std::string& help_command = "keepctl") {
  return Failure{Exit::kUsage, std::move(message), "run `" + help_command + " --help` for usage"};
}

// A success holding v, for types (like nlohmann::json) that convert to anything.
template <class T>
Result<T> Ok(T v) {
  return Result<T>(boost::system::in_place_value, std::move(v));
}

// Found by ADL when Result<T>::value() is called on a failure.
[[noreturn]] inline void throw_exception_from_error(const Failure& f,
                                                    const boost::source_location&) {
  throw std::runtime_error(f.message);
}

}  // namespace keep::cli

// Propagates the failure of an expression that yields a Result<...>.
#define KEEPCTL_TRY(expr)                          \
  do {                                             \
    auto keepctl_try_r_ = (expr);                  \
    if (!keepctl_try_r_) return keepctl_try_r_.error(); \
  } while (0)
