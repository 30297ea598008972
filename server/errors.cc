#include "server/errors.h"

#include <nlohmann/json.hpp>

namespace keep::server {

http::status StatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBlobUnknown: return http::status::not_found;
    case ErrorCode::kBlobUploadInvalid: return http::status::bad_request;
    case ErrorCode::kBlobUploadUnknown: return http::status::not_found;
    case ErrorCode::kDigestInvalid: return http::status::bad_request;
    case ErrorCode::kManifestBlobUnknown: return http::status::bad_request;
    case ErrorCode::kManifestInvalid: return http::status::bad_request;
    case ErrorCode::kManifestUnknown: return http::status::not_found;
    case ErrorCode::kNameInvalid: return http::status::bad_request;
    case ErrorCode::kNameUnknown: return http::status::not_found;
    case ErrorCode::kSizeInvalid: return http::status::bad_request;
    case ErrorCode::kUnauthorized: return http::status::unauthorized;
    case ErrorCode::kDenied: return http::status::forbidden;
    case ErrorCode::kUnsupported: return http::status::method_not_allowed;
    case ErrorCode::kTooManyRequests: return http::status::too_many_requests;
    case ErrorCode::kRangeInvalid: return http::status::range_not_satisfiable;
    case ErrorCode::kTooLarge: return http::status::payload_too_large;
    case ErrorCode::kNotFound: return http::status::not_found;
    case ErrorCode::kMethodNotAllowed: return http::status::method_not_allowed;
    case ErrorCode::kInsufficientStorage: return http::status::insufficient_storage;
    case ErrorCode::kInternal: return http::status::internal_server_error;
    case ErrorCode::kUnavailable: return http::status::service_unavailable;
    case ErrorCode::kConflict: return http::status::conflict;
    case ErrorCode::kInvalid: return http::status::bad_request;
  }
  return http::status::internal_server_error;
}

Reply ErrorReply(const Error& error, std::string_view challenge) {
  nlohmann::json j = {{"errors",
                       {{{"code", ErrorCodeName(error.code)},
                         {"message", ClientText(error)},
                         {"detail", nlohmann::json::object()}}}}};
  Reply r = Reply::Json(StatusOf(error.code), j.dump());
  if (error.code == ErrorCode::kUnauthorized && !challenge.empty()) {
    r.headers.set(http::field::www_authenticate, challenge);
  }
  if (error.retry_after_seconds > 0) {
    r.headers.set(http::field::retry_after, std::to_string(error.retry_after_seconds));
  }
  return r;
}

}  // namespace keep::server
