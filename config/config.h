// config/config.h — keepd's configuration: a plain struct, its defaults,
// loading from a JSON file, environment overrides and validation.
//
// Every key is documented in README.md with its default. Unknown keys and
// bad values are refused with a message that names the key. No globals: the
// server is handed a Config by value at start. Thread-safe as a value.
#pragma once

#include "core/error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace keep {

struct Config {
  std::string listen = "0.0.0.0:5000";  // host:port; [v6]:port
  std::string data_dir = "keep-data";   // blobs, metadata, uploads, self-signed TLS
  // Where blobs and upload sessions live: "filesystem" (under data_dir) or
  // "s3" (a bucket of an S3-compatible store, storage.s3.*).
  std::string storage_driver = "filesystem";
  // Where the metadata lives: "sqlite" (data_dir/metadata.db, one keepd) or
  // "postgres" (one database that several keepd replicas share, metadata.postgres.*).
  std::string metadata_driver = "sqlite";
  // libpq's connection string, keywords or a postgresql:// URI, without the
  // password: "host=db.example.org dbname=keep user=keep sslmode=verify-full".
  std::string postgres_conninfo;
  std::string postgres_schema = "public";  // its tables' schema, made if missing
  std::string postgres_password_file;      // read at start; or KEEP_POSTGRES_PASSWORD
  std::string postgres_password;           // from the environment or the file; never from JSON
  std::string s3_endpoint;  // "https://s3.example.org", "http://127.0.0.1:7480"
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_prefix;                // keys start with it: "" or "keep/"
  bool s3_path_style = true;            // false: <bucket>.<host> addressing
  std::string s3_ca_file;               // https: CAs to trust; empty: the system's
  std::string s3_access_key;            // or KEEP_S3_ACCESS_KEY
  std::string s3_secret_key_file;       // read at start; or KEEP_S3_SECRET_KEY
  std::string s3_secret_key;            // from KEEP_S3_SECRET_KEY or the file; never from JSON
  int s3_part_size_mib = 8;             // bytes written to the store at a time (at least 5)
  int s3_timeout_seconds = 30;          // an exchange with the store that stalls this long fails
  bool s3_redirect = false;             // blob GETs answered with a redirect to a presigned URL
  int s3_redirect_seconds = 1200;       // how long such a URL is valid
  std::string tls_cert;                 // empty: a self-signed certificate in data_dir/tls
  std::string tls_key;
  std::string tls_client_ca;            // CAs of client certificates naming robot accounts
  // false: the listener speaks plain HTTP, for a replica behind a load
  // balancer that terminates TLS (Validate asks for a loopback address or
  // trusted proxies then).
  bool tls_enabled = true;
  // Addresses and CIDR ranges of the proxies whose X-Forwarded-For,
  // X-Forwarded-Proto and X-Forwarded-Host keepd believes; from any other
  // peer they are ignored (server/forwarded.h).
  std::vector<std::string> trusted_proxies;
  int hsts_max_age_seconds = 0;         // Strict-Transport-Security max-age; 0: not sent
  int threads = 0;                      // 0: one per core
  bool allow_root = false;              // refuse to run as root unless true
  std::string user;                     // started as root: bind, then run as this user
  std::string group;                    // and this group; empty: the user's primary group
  bool seccomp = true;                  // the system call filter keepd installs on itself
  std::string seccomp_action = "errno";  // a forbidden call: "errno" (fails, EPERM) or "kill"
  bool log_requests = true;             // one JSON line per request on stdout

  std::uint64_t max_manifest_bytes = 4 * 1024 * 1024;
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 1024 * 1024;  // bodies that are neither blobs nor manifests
  int max_connections = 10000;
  int max_page_entries = 10000;  // most tags or repositories a page holds when the client gives n

  // Requests per second from one client address (an IPv6 /64) and by one
  // user, each with `request_burst` at once; 0: no limit (server/limits.h).
  int address_requests_per_second = 1000;
  int user_requests_per_second = 1000;
  int request_burst = 2000;
  int uploads_per_user = 16;                                      // receiving a body at once
  int upload_sessions_per_user = 1000;                            // started, not finished
  std::uint64_t upload_bytes_per_user = std::uint64_t{64} << 30;  // held in those sessions

  int header_timeout_seconds = 10;  // to receive a whole request header once it starts
  int idle_timeout_seconds = 60;    // a keep-alive connection with no request
  int body_timeout_seconds = 60;    // between two pieces of a request body
  int stop_timeout_seconds = 10;    // on SIGTERM, for requests in flight to finish
  int upload_ttl_hours = 24;        // an unfinished upload session is kept this long

  int gc_interval_hours = 24;        // scheduled garbage collection; 0: only on demand
  int gc_untagged_grace_hours = 24;  // untagged manifests and unlinked blobs are kept this long
  bool gc_delete_untagged = true;    // false: untagged manifests are never collected
  int verify_reads_percent = 1;      // blob GETs re-hashed before they are served (0-100)

  int audit_retention_days = 90;            // audit events older than this are pruned
  std::int64_t audit_max_events = 1000000;  // past this many, the oldest are pruned

  std::string realm = "Keep";          // the Basic auth realm (of /token)
  int credential_cache_seconds = 60;   // verified Basic credentials are trusted this long
  std::string service = "keep";        // the token service name (token audience)
  std::string token_realm;             // the token endpoint URL; empty: https://<Host>/token
  int token_seconds = 300;             // lifetime of an issued token

  // GET /metrics answers admins, and bearers of the credential in this file
  // (read once at start); empty: admins only.
  std::string metrics_token_file;
  // A second, plain-HTTP listener serving only /metrics, /healthz and
  // /readyz without credentials (loopback or an internal network); empty: none.
  std::string metrics_listen;
};

// Reads a JSON file; the defaults stand for keys it does not name.
[[nodiscard]] Result<Config> LoadConfigFile(const std::string& path);
[[nodiscard]] Result<Config> ParseConfig(std::string_view json_text);

// Applies KEEP_LISTEN, KEEP_DATA_DIR, KEEP_TLS_CERT, KEEP_TLS_KEY, KEEP_THREADS,
// KEEP_ALLOW_ROOT, KEEP_LOG_REQUESTS, KEEP_S3_ACCESS_KEY, KEEP_S3_SECRET_KEY and
// KEEP_POSTGRES_PASSWORD from the environment, then reads
// storage.s3.secret_key_file and metadata.postgres.password_file for a
// secret not set yet.
[[nodiscard]] Result<void> ApplyEnvironment(Config& config);

[[nodiscard]] Result<void> Validate(const Config& config);

// Splits "host:port" / "[v6]:port" / ":port".
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
[[nodiscard]] Result<ListenAddress> ParseListen(std::string_view listen);

}  // namespace keep
