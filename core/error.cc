#include "core/error.h"

#include "core/digest.h"

#include <cstdio>

namespace keep {

std::string_view ErrorCodeName(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kBlobUnknown: return "BLOB_UNKNOWN";
    case ErrorCode::kBlobUploadInvalid: return "BLOB_UPLOAD_INVALID";
    case ErrorCode::kBlobUploadUnknown: return "BLOB_UPLOAD_UNKNOWN";
    case ErrorCode::kDigestInvalid: return "DIGEST_INVALID";
    case ErrorCode::kManifestBlobUnknown: return "MANIFEST_BLOB_UNKNOWN";
    case ErrorCode::kManifestInvalid: return "MANIFEST_INVALID";
    case ErrorCode::kManifestUnknown: return "MANIFEST_UNKNOWN";
    case ErrorCode::kNameInvalid: return "NAME_INVALID";
    case ErrorCode::kNameUnknown: return "NAME_UNKNOWN";
    case ErrorCode::kSizeInvalid: return "SIZE_INVALID";
    case ErrorCode::kUnauthorized: return "UNAUTHORIZED";
    case ErrorCode::kDenied: return "DENIED";
    case ErrorCode::kUnsupported: return "UNSUPPORTED";
    case ErrorCode::kTooManyRequests: return "TOOMANYREQUESTS";
    case ErrorCode::kRangeInvalid: return "BLOB_UPLOAD_INVALID";
    case ErrorCode::kTooLarge: return "SIZE_INVALID";
    case ErrorCode::kNotFound: return "NOT_FOUND";
    case ErrorCode::kMethodNotAllowed: return "UNSUPPORTED";
    case ErrorCode::kInsufficientStorage: return "UNKNOWN";
    case ErrorCode::kInternal: return "UNKNOWN";
    case ErrorCode::kUnavailable: return "UNAVAILABLE";
    case ErrorCode::kConflict: return "CONFLICT";
    case ErrorCode::kInvalid: return "INVALID";
  }
  return "UNKNOWN";
}

void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw ErrorException(e);
}

std::string ClientText(const Error& e) {
  if (!e.for_operator) return e.message;
  std::string reference = RandomHex(6);
  std::fprintf(stderr, "keepd: fault reference %s: %s\n", reference.c_str(), e.message.c_str());
  return std::string("the registry met a fault on its side (reference ") + reference +
         "); its operator finds the cause in keepd's log under that reference";
}

}  // namespace keep
