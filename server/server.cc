#include "server/server.h"

#include "auth/auth.h"
#include "core/clock.h"
#include "core/log_text.h"
#include "core/metrics.h"
#include "core/version.h"
#include "mirror/service.h"
#include "server/audit_writer.h"
#include "server/confine.h"
#include "server/exchange.h"
#include "server/handlers/handlers.h"
#include "server/handlers/trust_gate.h"
#include "server/limits.h"
#include "server/manifest_cache.h"
#include "server/metrics_server.h"
#include "server/session.h"
#include "server/tls.h"
#include "storage/storage.h"
#include "trust/keys.h"

#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

namespace keep::server {
namespace {

namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr const char* kUsage =
    "usage: keepd [--config FILE] [--allow-root]\n"
    "       keepd [--config FILE] --reset-admin-password [USER]\n"
    "       keepd --config FILE --migrate-from DATA_DIR\n"
    "       keepd --version\n"
    "\n"
    "Keep's registry server. With no config file it runs with the embedded\n"
    "defaults: https on 0.0.0.0:5000, data in ./keep-data, a self-signed\n"
    "certificate. Settings and environment overrides are listed in README.md.\n"
    "\n"
    "--reset-admin-password gives USER (default admin) a new generated password,\n"
    "makes it an enabled admin, prints the password and exits: the recovery of a\n"
    "lost admin password, run on the server as the user keepd runs as.\n"
    "\n"
    "--migrate-from copies the single-machine Keep in DATA_DIR (its blobs and\n"
    "metadata.db; its keepd stopped) into the blob store and PostgreSQL database\n"
    "of FILE, verifying every blob's digest, and exits. Run again, it goes on\n"
    "from where it stopped.\n";

// The connections open now, and the most open at once since memory was
// last given back (ReturnMemory).
struct Connections {
  std::atomic<int> open{0};
  std::atomic<int> peak{0};
};

// An io_context whose pending work can be destroyed before the io_context
// itself: the coroutine frames of connections a stop cut refer to Main's
// locals (the limits, the services), which must outlive them.
class EventLoop : public asio::io_context {
 public:
  using asio::io_context::io_context;
  // Destroys every handler and coroutine frame still pending, as the
  // destructor would. REQUIRES: the loop is stopped and its thread joined.
  void DropPendingWork() { shutdown(); }
};

// The event loops connections are served on, one thread each.
using EventLoops = std::vector<std::unique_ptr<EventLoop>>;

struct Counter {
  Connections& c;
  explicit Counter(Connections& connections) : c(connections) {
    int now = ++c.open;
    for (int peak = c.peak.load(); now > peak && !c.peak.compare_exchange_weak(peak, now);) {
    }
    metrics::ConnectionOpened();
  }
  ~Counter() {
    --c.open;
    metrics::ConnectionClosed();
  }
};

// After a burst of connections, the memory their sessions took stays with
// the allocator, which keeps freed pages for later use: a thousand TLS
// connections that came and went would leave keepd a hundred megabytes
// larger for good. Every few seconds, once at least this many fewer are
// open than at the peak since the last time, the free pages are handed back
// to the kernel.
constexpr int kBurstGone = 64;

Awaitable<void> ReturnMemory(const Services& svc, Connections& connections) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    int open = connections.open.load();
    if (connections.peak.load() - open < kBurstGone) continue;
    connections.peak.store(open);
    co_await Offload(svc, [] { return ::malloc_trim(0); });
  }
}

Awaitable<void> ServeCounted(Stream stream, const Services& svc, std::string remote,
                             Connections& connections) {
  Counter c(connections);
  co_await Serve(std::move(stream), svc, std::move(remote));
}

// Opens acceptor on where (SO_REUSEADDR), binds and listens.
boost::system::error_code Listen(tcp::acceptor& acceptor, const tcp::endpoint& where) {
  boost::system::error_code ec;
  acceptor.open(where.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(where, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

// Accepts connections: TLS ones with the current context of `tls`, plain
// ones when it is nullptr (tls.enabled false). Each connection is served by
// one of `loops`, in turn, and stays with it.
Awaitable<void> Accept(tcp::acceptor& acceptor, TlsContexts* tls, const Services& svc,
                       Connections& connections, const EventLoops& loops) {
  std::size_t next = 0;
  while (true) {
    asio::io_context& loop = *loops[next++ % loops.size()];
    auto [ec, socket] =
        co_await acceptor.async_accept(loop.get_executor(), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: pause rather than spin.
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (connections.open.load() >= svc.config.max_connections) continue;  // closes the socket
    boost::system::error_code rec;
    auto ep = socket.remote_endpoint(rec);
    std::string remote = rec ? "?" : ep.address().to_string();
    socket.set_option(tcp::no_delay(true), rec);
    auto exec = socket.get_executor();
    Stream stream = tls ? Stream(std::move(socket), tls->Current()) : Stream(std::move(socket));
    asio::co_spawn(exec, ServeCounted(std::move(stream), svc, std::move(remote), connections),
                   [](const std::exception_ptr& e) {
                     if (!e) return;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       std::fprintf(stderr, "keepd: connection ended by an error: %s\n", ex.what());
                     }
                   });
  }
}

void PurgeAndLog(const Services& svc) {
  auto r = PurgeUploads(svc.blobs, svc.metadata, std::chrono::hours(svc.config.upload_ttl_hours));
  if (!r) {
    std::fprintf(stderr, "keepd: upload housekeeping failed: %s\n", r.error().message.c_str());
  } else if (r->expired + r->orphaned_files > 0) {
    std::fprintf(stderr, "keepd: removed %d expired upload sessions and %d orphaned upload files\n",
                 r->expired, r->orphaned_files);
  }
}

// At start, before serving: upload housekeeping, then the agreement check
// of the blob store and the database.
void RecoverAtStart(const Services& svc) {
  PurgeAndLog(svc);
  // Keyless signatures whose trust root changed while this keepd was not
  // running (or that schema 6 recorded without one) are verified again.
  if (auto again = handlers::ReverifyUnvouched(svc); !again) {
    std::fprintf(stderr, "keepd: verifying keyless signatures again failed: %s\n",
                 again.error().message.c_str());
  } else if (const std::int64_t all = again->restored + again->withdrawn; all > 0) {
    std::fprintf(stderr,
                 "keepd: verified %lld keyless signature artifacts again under the installed "
                 "trust roots; %lld are vouched for by none and do not count\n",
                 static_cast<long long>(all), static_cast<long long>(again->withdrawn));
  }
  auto r = CheckAtStart(svc.blobs, svc.metadata);
  if (!r) {
    std::fprintf(stderr, "keepd: the start-up check failed: %s\n", r.error().message.c_str());
    return;
  }
  if (r->temporary_files > 0) {
    std::fprintf(stderr, "keepd: removed %d temporary files of unfinished writes\n",
                 r->temporary_files);
  }
  if (r->missing.count > 0) {
    std::fprintf(stderr,
                 "keepd: %lld of %lld blob links name a blob file that is missing; run the "
                 "integrity check (POST /admin/v1/fsck) to list them and repair. The first:\n",
                 static_cast<long long>(r->missing.count),
                 static_cast<long long>(r->links_checked));
    for (std::size_t i = 0; i < r->missing.items.size() && i < 10; ++i) {
      std::fprintf(stderr, "  %s\n", r->missing.items[i].c_str());
    }
  }
}

// Upload housekeeping and the audit log's retention every hour (the first
// ran at start).
Awaitable<void> Housekeeping(const Services& svc) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(std::chrono::hours(1));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    PurgeAndLog(svc);
    co_await Offload(svc, [&] {
      svc.audit.Prune();
      return true;
    });
  }
}

// "2024-05-01T12:00:00Z" for a time point.
std::string Utc(std::chrono::system_clock::time_point t) {
  return Rfc3339Utc(std::chrono::system_clock::to_time_t(t));
}

// Garbage collection every gc.interval_hours, on the blocking pool; skipped
// when one started through the admin API is still running. Says at start
// when the first run is due, so that an operator (and a test) can see the
// schedule without waiting for it.
Awaitable<void> ScheduledGc(const Services& svc) {
  const int hours = svc.config.gc_interval_hours;
  if (hours == 0) {
    std::fprintf(stderr, "keepd: garbage collection runs only on demand (gc.interval_hours is "
                         "0): POST /admin/v1/gc\n");
    co_return;
  }
  std::fprintf(stderr, "keepd: garbage collection every %d hours; the first at %s\n", hours,
               Utc(std::chrono::system_clock::now() + std::chrono::hours(hours)).c_str());
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(std::chrono::hours(hours));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto r = co_await Offload(svc, [&]() -> std::optional<Result<GcReport>> {
      auto turn = handlers::TakeMaintenanceTurn(svc);
      if (!turn) return Result<GcReport>(turn.error());
      if (!*turn) return std::nullopt;
      GcOptions options = handlers::ConfiguredGc(svc.config);
      options.progress = svc.maintenance_status.Reporter();
      svc.maintenance_status.Start("gc");
      auto report = RunGc(svc.blobs, svc.metadata, svc.blob_locks, options);
      svc.maintenance_status.Finish(static_cast<bool>(report));
      return report;
    });
    if (!r) {
      std::fprintf(stderr,
                   "keepd: scheduled garbage collection skipped: another is running "
                   "(here or on another replica)\n");
    } else if (!*r) {
      std::fprintf(stderr, "keepd: garbage collection failed: %s\n", r->error().message.c_str());
    } else {
      const GcReport& g = **r;
      AuditEvent event;
      event.action = "gc.run";
      event.details = {{"event", "scheduled garbage collection"},
                       {"manifests", g.manifests.count},
                       {"blob_files", g.blob_files.count},
                       {"bytes_freed", g.bytes_freed}};
      Audit(std::move(event));
      std::fprintf(stderr,
                   "keepd: garbage collection: %lld manifests, %lld blob links, %lld blob files "
                   "(%llu bytes) and %d expired uploads removed in %.1f s\n",
                   static_cast<long long>(g.manifests.count),
                   static_cast<long long>(g.blob_links.count),
                   static_cast<long long>(g.blob_files.count),
                   static_cast<unsigned long long>(g.bytes_freed), g.expired_uploads, g.seconds);
    }
  }
}

// Mirror rules with an interval are synced when it has passed (the first
// time soon after start); the syncs run on threads of their own.
Awaitable<void> ScheduledMirrorSyncs(const Services& svc) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(std::chrono::seconds(15));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    co_await Offload(svc, [&] {
      svc.mirrors.StartDueSyncs();
      return true;
    });
  }
}

// One line on stderr per refused login, for the admin and for tools that
// watch for password guessing: the user name as the client sent it, escaped
// and cut short.
void LogRefusedLogin(const RefusedLogin& refused) {
  std::string line = "keepd: refused login for user \"" + LogText(refused.user) + "\" from " +
                     LogText(refused.remote) + ": " + std::string(refused.reason) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

int Fatal(const std::string& message) {
  std::fprintf(stderr, "keepd: %s\n", message.c_str());
  return 1;
}

// Every connection holds a descriptor: lift the soft limit (often 1024) to
// the hard one, so that a crowd of clients does not starve accept().
void RaiseFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

// How the metadata database's schema 4 migration renames publisher keys
// stored before key ids came from the canonical form: by that form
// (trust/keys.h). OpenPGP keys were named by their fingerprint all along.
std::optional<CanonicalKeyForm> CanonicalFormOf(const std::string& algorithm,
                                                const std::string& pem) {
  if (algorithm != kAlgorithmEcdsaP256 && algorithm != kAlgorithmEd25519) return std::nullopt;
  auto key = ParsePublicKey(pem);
  if (!key) return std::nullopt;  // left as it was: it verifies nothing either way
  return CanonicalKeyForm{key->key_id(), key->pem()};
}

// The blob driver the configuration names.
Result<std::unique_ptr<BlobDriver>> OpenBlobDriver(const Config& config) {
  if (config.storage_driver != "s3") return OpenFsDriver(config.data_dir);
  S3DriverOptions o;
  o.s3.endpoint = config.s3_endpoint;
  o.s3.bucket = config.s3_bucket;
  o.s3.region = config.s3_region;
  o.s3.access_key = config.s3_access_key;
  o.s3.secret_key = config.s3_secret_key;
  o.s3.path_style = config.s3_path_style;
  o.s3.prefix = config.s3_prefix;
  o.s3.ca_file = config.s3_ca_file;
  o.s3.timeout_seconds = config.s3_timeout_seconds;
  o.part_size = static_cast<std::uint64_t>(config.s3_part_size_mib) << 20;
  o.redirect_seconds = config.s3_redirect ? config.s3_redirect_seconds : 0;
  auto driver = OpenS3Driver(o);
  if (!driver) {
    return Fail(driver.error().code, "storage.driver is s3, and " + config.s3_endpoint +
                                         " bucket " + config.s3_bucket +
                                         " cannot be used: " + driver.error().message);
  }
  return driver;
}

PostgresOptions PostgresOptionsOf(const Config& config) {
  PostgresOptions o;
  o.conninfo = config.postgres_conninfo;
  o.password = config.postgres_password;
  o.schema = config.postgres_schema;
  return o;
}

// The metadata database the configuration names.
Result<std::unique_ptr<Metadata>> OpenMetadata(const Config& config) {
  if (config.metadata_driver != "postgres") {
    return OpenSqliteMetadata(config.data_dir + "/metadata.db", CanonicalFormOf);
  }
  auto metadata = OpenPostgresMetadata(PostgresOptionsOf(config));
  if (!metadata) {
    return Fail(metadata.error().code, "metadata.driver is postgres, and " +
                                           config.postgres_conninfo +
                                           " cannot be used: " + metadata.error().message);
  }
  return metadata;
}

// --migrate-from DIR: the single-machine Keep in DIR copied into the store
// and the PostgreSQL database of the configuration (storage/migrate.h).
int MigrateFrom(const Config& config, const std::string& dir) {
  if (config.metadata_driver != "postgres") {
    return Fatal(
        "--migrate-from copies a Keep into PostgreSQL and the blob store replicas "
        "share: give a config file with metadata.driver \"postgres\" (and "
        "storage.driver \"s3\")");
  }
  auto from = OpenFsDriver(dir);
  if (!from) return Fatal(from.error().message);
  auto to = OpenBlobDriver(config);
  if (!to) return Fatal(to.error().message);
  std::fprintf(stderr, "keepd: moving the Keep in %s into %s\n", dir.c_str(),
               config.postgres_conninfo.c_str());
  auto report = MigrateToShared(
      **from, dir, **to, PostgresOptionsOf(config), CanonicalFormOf,
      [](const std::string& line) { std::fprintf(stderr, "keepd: %s\n", line.c_str()); });
  if (!report) {
    return Fatal("the migration stopped: " + report.error().message +
                 "\n  what it copied is kept; run it again to go on");
  }
  for (const auto& w : report->warnings) std::fprintf(stderr, "keepd: warning: %s\n", w.c_str());
  std::printf(
      "migrated: %lld blobs copied (%llu bytes), %lld in the store already; %lld rows read, %lld "
      "new; secrets offered: %zu\n",
      static_cast<long long>(report->blobs_copied),
      static_cast<unsigned long long>(report->bytes_copied),
      static_cast<long long>(report->blobs_present), static_cast<long long>(report->rows_read),
      static_cast<long long>(report->rows_written), report->secrets.size());
  return 0;
}

// --reset-admin-password: a new password for `user`, who becomes (again)
// an enabled admin; printed on stdout. Offline, on the data directory.
int ResetAdminPassword(Metadata& metadata, const std::string& user) {
  auto existing = metadata.GetUser(user);
  if (!existing) return Fatal(existing.error().message);
  if (*existing && (*existing)->robot) return Fatal(user + " is a robot account, not a user");
  std::string password = GeneratePassword();
  auto hash = HashPassword(password);
  if (!hash) return Fatal(hash.error().message);
  if (!*existing) {
    UserRecord admin;
    admin.name = user;
    admin.password_hash = *hash;
    admin.admin = true;
    admin.created_by = "keepd --reset-admin-password";
    if (auto id = metadata.CreateUser(admin); !id) return Fatal(id.error().message);
  } else {
    auto set = metadata.SetPasswordHash(user, *hash);
    if (!set) return Fatal(set.error().message);
    auto updated = metadata.UpdateUser(user, /*disabled=*/false, /*admin=*/true);
    if (!updated) return Fatal(updated.error().message);
  }
  std::fprintf(stderr, "keepd: %s the admin user \"%s\"; its new password is on stdout\n",
               *existing ? "reset the password of" : "created", user.c_str());
  std::fprintf(stdout, "%s\n", password.c_str());
  return 0;
}

// The first admin's generated password: on a terminal it is shown; anywhere
// else (a journal, a log file) it is written to a file only keepd's user may
// read, and its path shown instead.
void ShowFirstPassword(const std::string& data_dir, const std::string& password) {
  if (::isatty(STDERR_FILENO) == 1) {
    std::fprintf(stderr,
                 "keepd: created the first admin user.\n"
                 "  user:     admin\n"
                 "  password: %s\n"
                 "  (shown only this once; keep it somewhere safe)\n",
                 password.c_str());
    return;
  }
  std::string path = data_dir + "/initial-admin-password";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool written = fd >= 0 && ::write(fd, (password + "\n").data(), password.size() + 1) ==
                                static_cast<ssize_t>(password.size() + 1);
  if (fd >= 0) ::close(fd);
  if (!written) {
    std::fprintf(stderr, "keepd: created the first admin user \"admin\", but could not write its "
                         "password to %s; run keepd --reset-admin-password\n", path.c_str());
    return;
  }
  std::string abs = std::filesystem::absolute(path).lexically_normal().string();
  std::fprintf(stderr,
               "keepd: created the first admin user \"admin\"; its password is in %s (readable "
               "only by keepd's user; delete it once you have it)\n",
               abs.c_str());
}

}  // namespace

int Main(int argc, char** argv) {
  std::string config_path;
  bool allow_root_flag = false;
  std::optional<std::string> reset_user;
  std::optional<std::string> migrate_from;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--reset-admin-password") {
      reset_user = "admin";
      if (i + 1 < argc && argv[i + 1][0] != '-') reset_user = argv[++i];
    } else if (a == "--migrate-from" && i + 1 < argc) {
      migrate_from = argv[++i];
    } else if (a == "--allow-root") {
      allow_root_flag = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--version") {
      std::cout << "keepd " << VersionText() << " (commit " << CommitText() << ")\n";
      return 0;
    } else {
      std::fprintf(stderr, "keepd: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (sodium_init() < 0) return Fatal("libsodium failed to initialise");

  Config config;
  if (!config_path.empty()) {
    auto c = LoadConfigFile(config_path);
    if (!c) return Fatal(c.error().message);
    config = std::move(*c);
  }
  if (auto r = ApplyEnvironment(config); !r) return Fatal(r.error().message);
  if (allow_root_flag) config.allow_root = true;
  if (auto r = Validate(config); !r) return Fatal(r.error().message);
  auto run_as = ResolveRunAs(config);
  if (!run_as) return Fatal(run_as.error().message);
  if (::geteuid() == 0 && !*run_as && !config.allow_root) {
    if (reset_user) {
      return Fatal("refusing to run as root: the files it would touch belong to keepd's user; "
                   "run it as that user, e.g. `sudo -u keep keepd --reset-admin-password "
                   "--config FILE` (or KEEP_DATA_DIR=/var/lib/keep)");
    }
    return Fatal(
        "refusing to run as root: run keepd as an unprivileged user (the README's first "
        "command does), set \"user\" for keepd to change to once it has bound its port, or "
        "set \"allow_root\": true / --allow-root if you really mean it");
  }

  if (migrate_from) return MigrateFrom(config, *migrate_from);

  RaiseFileLimit();
  // A peer that goes away while sendfile(2) writes to its socket must make
  // the call fail (EPIPE), not kill keepd.
  std::signal(SIGPIPE, SIG_IGN);

  // The scraper's credential, before anything is made on disk.
  std::string metrics_token;
  if (!reset_user && !config.metrics_token_file.empty()) {
    auto token = ReadScraperToken(config.metrics_token_file);
    if (!token) return Fatal(token.error().message);
    metrics_token = std::move(*token);
  }

  // What needs root is done first: the listener bound (a port below 1024),
  // configured TLS material read (a key only root may read). Then keepd
  // becomes `user`, and all it creates from there on belongs to that user.
  auto listen = ParseListen(config.listen);
  int threads = config.threads > 0
                    ? config.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Outlives the io_contexts: destroying them destroys the sessions still
  // suspended at shutdown, whose counters count down on their way out.
  Connections connections;
  // One event loop per thread, each serving its own connections: a
  // connection's handlers never move between threads, so no strand orders
  // them and no thread is woken to run another's work. With one io_context
  // shared by two threads, a manifest GET cost about 40% more CPU than with
  // one thread (bench/README.md). The first loop also runs the listeners,
  // the signals and the housekeeping.
  EventLoops loops;
  for (int i = 0; i < threads; ++i) loops.push_back(std::make_unique<EventLoop>(1));
  asio::io_context& ioc = *loops.front();
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> busy;
  for (auto& loop : loops) busy.push_back(asio::make_work_guard(*loop));
  tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(listen->host, ec);
  if (ec) return Fatal("listen: \"" + listen->host + "\" is not an IP address");
  if (!reset_user) {
    if (ec = Listen(acceptor, {address, listen->port}); ec) {
      return Fatal("cannot listen on " + config.listen + ": " + ec.message());
    }
  }
  // The metrics listener (metrics.listen): plain HTTP, no credentials.
  tcp::acceptor metrics_acceptor(ioc);
  if (!config.metrics_listen.empty() && !reset_user) {
    auto where = ParseListen(config.metrics_listen);
    auto maddress = asio::ip::make_address(where->host, ec);
    if (ec) return Fatal("metrics.listen: \"" + where->host + "\" is not an IP address");
    if (ec = Listen(metrics_acceptor, {maddress, where->port}); ec)
      return Fatal("cannot listen on " + config.metrics_listen +
                   " (metrics.listen): " + ec.message());
    std::string mshown = maddress.is_v6() ? "[" + where->host + "]" : where->host;
    std::fprintf(stderr,
                 "keepd: serving /metrics, /healthz and /readyz without credentials on "
                 "http://%s:%u (metrics.listen: keep it on loopback or an internal network)\n",
                 mshown.c_str(), static_cast<unsigned>(metrics_acceptor.local_endpoint().port()));
    if (maddress.is_unspecified()) {
      std::fprintf(stderr,
                   "keepd: warning: metrics.listen %s answers on every network interface, without "
                   "credentials; prefer 127.0.0.1 or an address only the monitoring network "
                   "reaches\n",
                   config.metrics_listen.c_str());
    }
  }
  TlsContexts tls;
  if (!config.tls_cert.empty() && !reset_user) {
    if (auto r = tls.Load({config.tls_cert, config.tls_key, config.tls_client_ca}); !r)
      return Fatal(r.error().message);
  }
  if (*run_as) {
    if (auto r = PrepareDataDir(config.data_dir, **run_as); !r) return Fatal(r.error().message);
    if (auto r = DropPrivileges(**run_as); !r) return Fatal(r.error().message);
    std::fprintf(stderr, "keepd: running as %s (uid %u, gid %u)\n", (*run_as)->user.c_str(),
                 static_cast<unsigned>((*run_as)->uid), static_cast<unsigned>((*run_as)->gid));
    // A certificate renewed later is read as this user (SIGHUP).
    if (!config.tls_key.empty() && ::access(config.tls_key.c_str(), R_OK) != 0) {
      std::fprintf(stderr,
                   "keepd: warning: %s cannot read tls.key %s: a SIGHUP will not reload a "
                   "renewed certificate; make the key readable by that user\n",
                   (*run_as)->user.c_str(), config.tls_key.c_str());
    }
  }
  // Before any thread starts, so that every thread has it (the seccomp
  // filter, when on, sets it again on all of them).
  if (auto r = ForbidNewPrivileges(); !r) return Fatal(r.error().message);

  std::error_code fec;
  if (reset_user && config.metadata_driver == "sqlite" &&
      !std::filesystem::exists(config.data_dir + "/metadata.db", fec)) {
    return Fatal("there is no Keep data in " + config.data_dir +
                 " (no metadata.db); give the config file keepd runs with (--config) or "
                 "KEEP_DATA_DIR");
  }
  std::filesystem::create_directories(config.data_dir, fec);
  if (fec) return Fatal("cannot create data_dir " + config.data_dir + ": " + fec.message());
  ::chmod(config.data_dir.c_str(), 0700);

  auto blobs = OpenBlobDriver(config);
  if (!blobs) return Fatal(blobs.error().message);
  auto metadata = OpenMetadata(config);
  if (!metadata) return Fatal(metadata.error().message);
  if (reset_user) {
    return ResetAdminPassword(**metadata, *reset_user);
  }

  // The first admin: its password is shown once (or taken from KEEP_ADMIN_PASSWORD).
  // Replicas starting together make it once: the others wait, then find it.
  auto starting = (*metadata)->LockAcrossReplicas(LockKind::kStart, "first admin", true);
  if (!starting) return Fatal(starting.error().message);
  if (const char* preset = std::getenv("KEEP_ADMIN_PASSWORD"); preset && *preset) {
    auto count = (*metadata)->CountUsers();
    if (!count) return Fatal(count.error().message);
    if (*count == 0) {
      auto hash = HashPassword(preset);
      if (!hash) return Fatal(hash.error().message);
      UserRecord admin;
      admin.name = "admin";
      admin.password_hash = std::move(*hash);
      admin.admin = true;
      admin.created_by = "KEEP_ADMIN_PASSWORD";
      if (auto id = (*metadata)->CreateUser(admin); !id) {
        return Fatal(id.error().message);
      }
      std::fprintf(stderr, "keepd: created the first admin user \"admin\" with the password "
                           "from KEEP_ADMIN_PASSWORD\n");
    }
  } else {
    auto first = EnsureFirstAdmin(**metadata);
    if (!first) return Fatal(first.error().message);
    if (*first) ShowFirstPassword(config.data_dir, **first);
  }
  starting->reset();

  if (config.tls_enabled && config.tls_cert.empty()) {
    auto made = EnsureSelfSignedCertificate(config.data_dir + "/tls");
    if (!made) return Fatal(made.error().message);
    std::string abs = std::filesystem::absolute(made->cert).lexically_normal().string();
    std::fprintf(stderr,
                 "keepd: %s self-signed TLS certificate %s\n"
                 "  trust it in clients, e.g. copy it to /etc/docker/certs.d/<host>:<port>/ca.crt\n",
                 made->created ? "made a" : "using the", abs.c_str());
    if (auto r = tls.Load({made->cert, made->key, config.tls_client_ca}); !r)
      return Fatal(r.error().message);
  }

  const std::string token_key = config.data_dir + "/token.key";
  auto token_secret = KeepSecret(**metadata, token_key, "the token key", TokenIssuer::NewSecret);
  if (!token_secret) return Fatal(token_secret.error().message);
  auto tokens = TokenIssuer::FromSecret(*token_secret, "keep", token_key);
  if (!tokens) return Fatal(tokens.error().message);
  Authenticator authenticator(**metadata, std::chrono::seconds(config.credential_cache_seconds),
                              *tokens, config.service, LogRefusedLogin);
  asio::thread_pool blocking(4);
  asio::thread_pool pull_through(4);
  asio::thread_pool store_reads(config.storage_driver == "s3" ? 16 : 1);
  asio::thread_pool store_writes(config.storage_driver == "s3" ? 16 : 4);
  BlobLocks blob_locks(**metadata);
  std::mutex maintenance;
  auto mirrors = mirror::Service::Open(
      config.data_dir, mirror::ServiceDeps{**blobs, **metadata, blob_locks,
                                           static_cast<std::size_t>(config.max_manifest_bytes)});
  if (!mirrors) return Fatal(mirrors.error().message);
  MaintenanceStatus maintenance_status;
  metrics::SetProcessInfo(UnixNow(), VersionText(), CommitText());
  AuditWriter audit(**metadata, config);
  SetAuditSink(audit.Sink());
  // Uninstalled before the writer goes, on every way out; the writer then
  // writes what is queued.
  struct Uninstall {
    ~Uninstall() { SetAuditSink({}); }
  } uninstall;
  audit.Prune();
  Limits limits(config);
  // Manifests are a few KiB; image indexes of many platforms tens of KiB.
  ManifestCache manifest_cache(8 << 20, 256 << 10);
  auto trusted_proxies = AddressSet::Parse(config.trusted_proxies);
  if (!trusted_proxies) return Fatal("proxies.trusted: " + trusted_proxies.error().message);
  Services services{config,       **blobs,       **metadata,         authenticator,
                    *tokens,      blocking,      blob_locks,         maintenance,
                    **mirrors,    pull_through,  maintenance_status, metrics_token,
                    audit,        limits,        *trusted_proxies,   store_reads,
                    store_writes, manifest_cache};
  RecoverAtStart(services);

  if (metrics_acceptor.is_open()) {
    asio::co_spawn(ioc, ServeMetricsListener(metrics_acceptor, services), asio::detached);
  }
  asio::co_spawn(
      ioc, Accept(acceptor, config.tls_enabled ? &tls : nullptr, services, connections, loops),
      asio::detached);
  asio::co_spawn(ioc, Housekeeping(services), asio::detached);
  asio::co_spawn(ioc, ReturnMemory(services, connections), asio::detached);
  asio::co_spawn(ioc, ScheduledGc(services), asio::detached);
  asio::co_spawn(ioc, ScheduledMirrorSyncs(services), asio::detached);
  // SIGHUP: the certificate and key are read again (a renewed certificate),
  // for new connections; those open go on with theirs.
  asio::signal_set hangup(ioc, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& hec, int) {
        if (hec) return;
        if (!config.tls_enabled) {
          std::fprintf(stderr, "keepd: SIGHUP: TLS is off (tls.enabled); nothing to reload\n");
        } else if (auto r = tls.Reload(); r) {
          std::fprintf(stderr,
                       "keepd: SIGHUP: reloaded the TLS certificate and key; new connections use "
                       "them\n");
        } else {
          std::fprintf(stderr, "keepd: SIGHUP: kept the TLS certificate in use: %s\n",
                       r.error().message.c_str());
        }
        hangup.async_wait(on_hangup);
      };
  hangup.async_wait(on_hangup);
  // A stop: no new connections; those open finish the request in flight
  // (timeouts.stop_seconds at most) and close; a second signal cuts them.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  asio::steady_timer drained(ioc);
  auto stop_loops = [&] {
    boost::system::error_code ignored;
    signals.cancel(ignored);
    drained.cancel();
    for (auto& loop : loops) loop->stop();
  };
  std::chrono::steady_clock::time_point stop_deadline;
  std::function<void(const boost::system::error_code&)> wait_drained =
      [&](const boost::system::error_code& tec) {
        if (tec) return;
        int open = connections.open.load();
        if (open == 0 || std::chrono::steady_clock::now() >= stop_deadline) {
          if (open > 0) {
            std::fprintf(stderr, "keepd: stopping: connections still open: %d, cut after %d s\n",
                         open, config.stop_timeout_seconds);
          }
          stop_loops();
          return;
        }
        drained.expires_after(std::chrono::milliseconds(20));
        drained.async_wait(wait_drained);
      };
  signals.async_wait([&](const boost::system::error_code& sec, int) {
    if (sec) return;
    acceptor.close();
    boost::system::error_code ignored;
    metrics_acceptor.close(ignored);
    hangup.cancel(ignored);
    const int open = connections.open.load();
    if (open == 0 || config.stop_timeout_seconds == 0) {
      std::fprintf(stderr, "keepd: stopping\n");
      stop_loops();
      return;
    }
    std::fprintf(stderr,
                 "keepd: stopping: connections open: %d; requests in flight get up to %d s to "
                 "finish (a second SIGTERM stops at once)\n",
                 open, config.stop_timeout_seconds);
    stop_deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(config.stop_timeout_seconds);
    StartDraining();
    for (auto& loop : loops) asio::post(*loop, CloseIdleConnections);
    wait_drained({});
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (again) return;
      std::fprintf(stderr, "keepd: stopping at once\n");
      stop_loops();
    });
  });
  // The last of the start-up work that needed wide rights is done: from
  // here on, only the system calls serving needs, on every thread.
  if (auto r = Confine(config); !r) return Fatal(r.error().message);
  std::string shown = address.is_v6() ? "[" + listen->host + "]" : listen->host;
  std::fprintf(stderr, "keepd: listening on %s://%s:%u (%d threads, data in %s)\n",
               config.tls_enabled ? "https" : "http", shown.c_str(),
               static_cast<unsigned>(acceptor.local_endpoint().port()), threads,
               config.data_dir.c_str());
  if (!config.tls_enabled) {
    std::fprintf(stderr,
                 "keepd: TLS is off (tls.enabled false): clients' passwords and tokens reach "
                 "this port unencrypted; only the load balancer that terminates TLS should "
                 "reach it\n");
  }
  asio::post(blocking, RunForbiddenCallsHook);  // keepd-test only

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&, i] { loops[i]->run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  // Syncs and pull-throughs are asked to stop (between tags, and between
  // the chunks of a layer), and waited for.
  (*mirrors)->Stop();
  pull_through.join();
  blocking.join();
  store_reads.join();
  store_writes.join();
  // What a stop cut (a request in flight past timeouts.stop_seconds) ends
  // here, while the limits and services its frames hold are still there;
  // the pools' work that served those frames is done by now.
  for (auto& loop : loops) loop->DropPendingWork();
  return 0;
}

}  // namespace keep::server
