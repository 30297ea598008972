// core/error.h — the error vocabulary every module shares.
//
// An Error is a value: an ErrorCode (the OCI Distribution error codes plus a
// few of Keep's own) and a message written for the person at the client.
// Clients print `message`, so it says what went wrong and what to do. A
// fault whose message is for the registry's operator alone (a path of the
// server, a system error) is made with OperatorFault: the client gets a
// reference to it, and keepd's log the message under that reference.
// Result<T> is boost::system::result<T, Error>; functions that can fail
// return it and are [[nodiscard]]. Thread-safe: these are plain values.
#pragma once

#include <boost/system/result.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace keep {

enum class ErrorCode {
  // The OCI Distribution Spec v1.1 codes.
  kBlobUnknown,
  kBlobUploadInvalid,
  kBlobUploadUnknown,
  kDigestInvalid,
  kManifestBlobUnknown,
  kManifestInvalid,
  kManifestUnknown,
  kNameInvalid,
  kNameUnknown,
  kSizeInvalid,
  kUnauthorized,
  kDenied,
  kUnsupported,
  kTooManyRequests,
  // Keep's own refinements; each maps onto one OCI code on the wire.
  kRangeInvalid,         // BLOB_UPLOAD_INVALID / 416: range not satisfiable
  kTooLarge,             // SIZE_INVALID / 413: a bounded body was too big
  kNotFound,             // no such route: 404 with code NOT_FOUND
  kMethodNotAllowed,     // route exists, verb does not: 405 UNSUPPORTED
  kInsufficientStorage,  // 507: the disk is full
  kInternal,             // 500: a fault of ours; the message says where to look
  kUnavailable,          // 503 UNAVAILABLE: an upstream registry cannot be reached
  // The admin API's own codes.
  kConflict,  // 409 CONFLICT: exists already, or still in use
  kInvalid,   // 400 INVALID: a bad field in a request body
};

// The code as it appears in the OCI error JSON, e.g. "BLOB_UNKNOWN".
std::string_view ErrorCodeName(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  bool for_operator = false;  // message names the server's insides: never sent
  // When above 0, the seconds after which trying again may succeed; sent as
  // Retry-After (a rate limit, a locked login, an upload limit).
  int retry_after_seconds = 0;

  Error() = default;
  Error(ErrorCode c, std::string m) : code(c), message(std::move(m)) {}
};

class ErrorException : public std::runtime_error {
 public:
  explicit ErrorException(Error e) : std::runtime_error(e.message), error(std::move(e)) {}
  Error error;
};

// Found by ADL when Result<T>::value() is called on an error.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error Fail(ErrorCode code, std::string message) { return Error(code, std::move(message)); }

// TOOMANYREQUESTS, to be tried again after `retry_after_seconds` (0: no
// time can be promised).
inline Error TooManyRequests(std::string message, int retry_after_seconds) {
  Error e(ErrorCode::kTooManyRequests, std::move(message));
  e.retry_after_seconds = retry_after_seconds;
  return e;
}

// An error whose message only the registry's operator may read.
inline Error OperatorFault(ErrorCode code, std::string message) {
  Error e(code, std::move(message));
  e.for_operator = true;
  return e;
}

// What a client may read of e: its message or, for an OperatorFault, a
// reference under which the message is written to stderr (keepd's log).
// Use it wherever an error's text is passed on to a client or kept where
// clients read (a refusal's reason, a mirror tag's state).
std::string ClientText(const Error& e);

}  // namespace keep

// Propagates the error of an expression that yields a Result<...>.
#define KEEP_TRY(expr)                                \
  do {                                                \
    auto keep_try_r_ = (expr);                        \
    if (!keep_try_r_) return keep_try_r_.error();     \
  } while (0)
