// GET /v2/: the API version check every client starts with.
#include "server/handlers/handlers.h"

namespace keep::server::handlers {

Awaitable<Result<Reply>> Base(Exchange&) {
  co_return Reply::Json(http::status::ok, "{}");
}

}  // namespace keep::server::handlers
