// GET /healthz and /readyz: liveness and readiness for load balancers and
// orchestrators. Open to anyone, so they tell nothing an outsider could use:
// no version, no path, no error text. Why a check fails goes to keepd's log.
#include "server/handlers/handlers.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>

namespace keep::server::handlers {
namespace {

// Whether each readiness check failed when last run, so that the log says
// when one starts failing and when it passes again, not at every probe.
// Process-wide, as the data directory they check is.
std::atomic<bool> database_failing{false};
std::atomic<bool> storage_failing{false};

void Note(std::atomic<bool>& failing, const char* what, const Result<void>& check) {
  const bool now = !check;
  if (failing.exchange(now) == now) return;
  if (now) {
    std::fprintf(stderr, "keepd: not ready: the %s check fails: %s\n", what,
                 check.error().message.c_str());
  } else {
    std::fprintf(stderr, "keepd: the %s check passes again\n", what);
  }
}

}  // namespace

// Alive: the process answers requests. Touches nothing else.
Reply HealthReply() { return Reply::Json(http::status::ok, R"({"status":"ok"})"); }

Awaitable<Result<Reply>> Healthz(Exchange&) { co_return HealthReply(); }

// Ready: the metadata database answers and can be written, and so can the
// blob storage. Both checks are a few system calls, run on the I/O thread:
// on the blocking pool, a long garbage collection or a burst of password
// checks would make a probe wait and an idle registry look unready. A blob
// store across the network is asked on its own threads instead, so that a
// store that hangs holds no I/O thread.
static Reply Ready(const Services& svc) {
  const Result<void> database = svc.metadata.CheckReady();
  const Result<void> storage = svc.blobs.CheckWritable();
  Note(database_failing, "database", database);
  Note(storage_failing, "storage", storage);
  const bool ready = database && storage;
  nlohmann::json body = {
      {"status", ready ? "ok" : "unavailable"},
      {"checks",
       {{"database", database ? "ok" : "failing"}, {"storage", storage ? "ok" : "failing"}}}};
  return Reply::Json(ready ? http::status::ok : http::status::service_unavailable, body.dump());
}

Awaitable<Reply> ReadyReply(const Services& svc) {
  co_return co_await AskStore(svc, [&] { return Ready(svc); });
}

Awaitable<Result<Reply>> Readyz(Exchange& ex) { co_return co_await ReadyReply(ex.services()); }

}  // namespace keep::server::handlers
