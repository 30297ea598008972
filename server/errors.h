// server/errors.h — an Error as the OCI error JSON with its HTTP status.
// Each code's status is declared once, in errors.cc.
#pragma once

#include "server/exchange.h"

namespace keep::server {

http::status StatusOf(ErrorCode code);

// {"errors":[{"code":..., "message":..., "detail":{}}]} with the status, and
// on 401 the given challenge as WWW-Authenticate; Retry-After when the error
// names a time to wait.
Reply ErrorReply(const Error& error, std::string_view challenge = {});

}  // namespace keep::server
