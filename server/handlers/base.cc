// GET /v2/: the API version check every client starts with.
#include "server/handlers/handlers.h"

namespace keep::server::handlers {

// (Every answer carries X-Registry-Supports-Signatures: 1, see session.cc,
// so that skopeo and podman store GPG signatures through /extensions/v2/.)
Awaitable<Result<Reply>> Base(Exchange&) {
  co_return Reply::Json(http::status::ok, "{}");
}

}  // namespace keep::server::handlers
