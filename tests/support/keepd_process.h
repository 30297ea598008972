// tests/support/keepd_process.h — a real keepd for a test.
//
// Starts the keepd binary on a free loopback port with a fresh data
// directory, the admin password in KEEP_ADMIN_PASSWORD and its stdout
// (request log) and stderr in files next to the data directory. The
// constructor returns once the port completes a TLS handshake (with TLS
// off, once keepd says it listens and the port connects); the destructor
// stops the server and removes the directory, unless the test failed: then
// it keeps the directory and prints the server's messages.
//
// KEEP_TEST_KEEPD=/path/to/keepd runs the tests against another binary.
// A test may also name the binary itself (keepd-test, the build with test
// hooks) and add to keepd's environment, through KeepdOptions.
#pragma once

#include "tests/support/https_client.h"

#include <nlohmann/json.hpp>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace keep::testkit {

inline constexpr const char* kAdminUser = "admin";

// The keepd built with the tests, unless KEEP_TEST_KEEPD names another binary.
std::string KeepdBinary();

inline constexpr const char* kAdminPassword = "integration-test-password";

struct KeepdOptions {
  // The binary to run; empty: the keepd built with the tests (or KEEP_TEST_KEEPD).
  std::filesystem::path binary;
  // "NAME=value" entries added to keepd's environment (replacing the same
  // names, KEEP_ADMIN_PASSWORD included). "{port}" and
  // "{data_dir}" in them stand for this keepd's port and data directory.
  std::vector<std::string> environment;
  // The loopback address keepd listens on and clients connect to ("::1" for IPv6).
  std::string host = "127.0.0.1";
  // Commands keepd is run under, e.g. {"unshare", "-r"} to be root in a user
  // namespace (each must exec the next, so that keepd keeps their process).
  std::vector<std::string> launcher;
  // Pass --allow-root, which a keepd that is not root ignores (false: keepd
  // decides from its config and environment whether it may run as root).
  bool allow_root_flag = true;
};

class KeepdProcess {
 public:
  enum class Stop { kGraceful, kCrash };  // SIGTERM, or SIGKILL as a crash would

  // `extra_config` is merged over the generated config (listen, data_dir).
  explicit KeepdProcess(nlohmann::json extra_config = nlohmann::json::object());
  // As above, but first calls prepare(data_dir()) with the data directory not
  // yet created, e.g. to mount a filesystem there. Whatever it mounts must
  // outlive this object (which stops keepd before it is destroyed).
  KeepdProcess(nlohmann::json extra_config,
               const std::function<void(const std::filesystem::path&)>& prepare,
               KeepdOptions options = {});
  KeepdProcess(nlohmann::json extra_config, KeepdOptions options);
  ~KeepdProcess();
  KeepdProcess(const KeepdProcess&) = delete;
  KeepdProcess& operator=(const KeepdProcess&) = delete;

  // Stops and starts again on the same port and data directory.
  void Restart(Stop how = Stop::kGraceful);
  // As above, calling while_stopped() once keepd is gone, e.g. to look at
  // what it left in its data directory.
  void Restart(Stop how, const std::function<void()>& while_stopped);
  // Stops keepd for good (Restart starts it again), e.g. to look at its
  // database, which keepd holds exclusively while it runs.
  void Shutdown(Stop how = Stop::kGraceful) { Terminate(how); }
  bool running() const;
  // The keepd process, to signal it by hand (e.g. while Shutdown, on another
  // thread, waits for it); -1 when it is not running.
  pid_t pid() const { return pid_; }

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return options_.host; }
  std::filesystem::path data_dir() const { return dir_ / "data"; }
  std::string ca_file() const { return (data_dir() / "tls" / "server.crt").string(); }
  // Whether keepd speaks plain HTTP (its config sets tls.enabled false); its
  // clients do too then.
  bool plain() const;

  // A client logged in as the admin, and one with no credentials.
  HttpsClient AdminClient() const;
  HttpsClient AnonymousClient() const;

  // Where keepd's metadata lives: its PostgreSQL schema when the tests run
  // on PostgreSQL (KEEP_TEST_POSTGRES), else "" (data_dir()/metadata.db).
  const std::string& postgres_schema() const { return postgres_schema_; }

  // The request log so far: one JSON object per request.
  std::vector<nlohmann::json> RequestLog() const;
  // The request log once `done` holds of it, or as it is after `wait`.
  // keepd writes a request's line once it has sent the answer, so a client
  // holding its answer may read the log before the line is there.
  std::vector<nlohmann::json> RequestLogWhen(
      const std::function<bool(const std::vector<nlohmann::json>&)>& done,
      std::chrono::milliseconds wait = std::chrono::seconds(10)) const;
  // The `nth` (from 1) request logged for `method path` (any method when
  // `method` is ""), once keepd has logged it; null if not within `wait`.
  nlohmann::json LoggedRequest(std::string_view method, std::string_view path, std::size_t nth = 1,
                               std::chrono::milliseconds wait = std::chrono::seconds(10)) const;
  std::string Messages() const;  // stderr so far
  // The stderr from where `text` first appears to the end of its line, once
  // keepd has written it (many of its messages come asynchronously: a
  // signal's, a scheduled task's); "" if it does not within `wait`.
  std::string MessageWhen(const std::string& text,
                          std::chrono::milliseconds wait = std::chrono::seconds(10)) const;

 private:
  void WriteConfig() const;
  // One attempt; false when keepd exited before listening.
  bool Launch();
  void Terminate(Stop how);

  std::filesystem::path dir_;
  std::string postgres_schema_;
  nlohmann::json extra_config_;
  KeepdOptions options_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int last_exit_ = 0;  // the wait status of a keepd that exited while starting
};

inline void PrintTo(KeepdProcess::Stop how, std::ostream* os) {
  *os << (how == KeepdProcess::Stop::kGraceful ? "Graceful" : "Crash");
}

// Runs `sql` (statements without parameters) on keepd's metadata database,
// SQLite's file or its PostgreSQL schema, the way an operator would by hand.
// Returns the rows the last statement changed; a failure fails the test.
// REQUIRES: keepd is stopped when it is on SQLite (it holds the file).
long long RunMetadataSql(const KeepdProcess& keepd, const std::string& sql);
// The rows of one query on keepd's metadata database, each column as text
// ("" for NULL). The same requirements.
std::vector<std::vector<std::string>> QueryMetadata(const KeepdProcess& keepd,
                                                    const std::string& sql);

}  // namespace keep::testkit
