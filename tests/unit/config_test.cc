#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace keep {
namespace {

TEST(Config, DefaultsWhenEmpty) {
  auto c = ParseConfig("{}");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen, "0.0.0.0:5000");
  EXPECT_EQ(c->max_manifest_bytes, 4u * 1024 * 1024);
  EXPECT_TRUE(Validate(*c));
}

// The sample config of deploy/ (docs/install-debian.md installs it) is one
// keepd accepts, with the paths that guide names.
TEST(Config, TheSampleConfigOfDeployIsValid) {
  auto c = LoadConfigFile(std::string(KEEP_TESTDATA) + "/../../../deploy/keep.json");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(Validate(*c));
  EXPECT_EQ(c->data_dir, "/var/lib/keep");
  EXPECT_EQ(c->tls_cert, "/etc/keep/tls/server.crt");
}

TEST(Config, LimitKeys) {
  auto c = ParseConfig(R"({"limits":{"address_requests_per_second":0,"user_requests_per_second":5,
                           "request_burst":7,"uploads_per_user":2,"upload_sessions_per_user":3,
                           "upload_bytes_per_user":1048576},"tls":{"client_ca":"ca.pem"}})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->address_requests_per_second, 0);
  EXPECT_EQ(c->user_requests_per_second, 5);
  EXPECT_EQ(c->request_burst, 7);
  EXPECT_EQ(c->uploads_per_user, 2);
  EXPECT_EQ(c->upload_sessions_per_user, 3);
  EXPECT_EQ(c->upload_bytes_per_user, 1048576u);
  EXPECT_EQ(c->tls_client_ca, "ca.pem");
  auto small = ParseConfig(R"({"limits":{"upload_bytes_per_user":1000}})");
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("limits.upload_bytes_per_user"), std::string::npos);
  EXPECT_FALSE(ParseConfig(R"({"limits":{"request_burst":0}})"));
}

TEST(Config, ReadsNestedKeys) {
  auto c = ParseConfig(R"({"listen":"127.0.0.1:6000","tls":{"cert":"a.crt","key":"a.key"},
                           "limits":{"max_manifest_bytes":2048},"timeouts":{"idle_seconds":5}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->listen, "127.0.0.1:6000");
  EXPECT_EQ(c->tls_cert, "a.crt");
  EXPECT_EQ(c->max_manifest_bytes, 2048u);
  EXPECT_EQ(c->idle_timeout_seconds, 5);
}

TEST(Config, UnknownKeysAndBadValuesNameTheKey) {
  auto unknown = ParseConfig(R"({"tls":{"certificate":"x"}})");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("\"tls.certificate\""), std::string::npos);
  auto bad = ParseConfig(R"({"threads":"four"})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"threads\""), std::string::npos);
  auto range = ParseConfig(R"({"timeouts":{"idle_seconds":0}})");
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("timeouts.idle_seconds"), std::string::npos);
  EXPECT_FALSE(ParseConfig("not json"));
}

TEST(Config, MetricsKeys) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->metrics_token_file, "");
  EXPECT_EQ(defaults->metrics_listen, "");
  auto c = ParseConfig(
      R"({"metrics":{"token_file":"/etc/keep/metrics-token","listen":"127.0.0.1:9102"}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->metrics_token_file, "/etc/keep/metrics-token");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9102");
  EXPECT_TRUE(Validate(*c));
  c->metrics_listen = "9102";
  auto bad = Validate(*c);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"metrics.listen\""), std::string::npos)
      << bad.error().message;
  auto unknown = ParseConfig(R"({"metrics":{"enabled":true}})");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("\"metrics.enabled\""), std::string::npos);
  EXPECT_FALSE(ParseConfig(R"({"metrics":{"token_file":1}})"));
}

TEST(Config, AuditKeys) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->audit_retention_days, 90);
  EXPECT_EQ(defaults->audit_max_events, 1000000);
  auto set = ParseConfig(R"({"audit":{"retention_days":7,"max_events":5000}})");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->audit_retention_days, 7);
  EXPECT_EQ(set->audit_max_events, 5000);
  for (const char* bad : {R"({"audit":{"retention_days":0}})", R"({"audit":{"max_events":10}})"}) {
    auto refused = ParseConfig(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("audit."), std::string::npos) << bad;
  }
}

TEST(Config, GarbageCollectionKeys) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->gc_interval_hours, 24);
  EXPECT_EQ(defaults->gc_untagged_grace_hours, 24);
  EXPECT_TRUE(defaults->gc_delete_untagged);
  auto c = ParseConfig(
      R"({"gc":{"interval_hours":0,"untagged_grace_hours":2,"delete_untagged":false}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->gc_interval_hours, 0);
  EXPECT_EQ(c->gc_untagged_grace_hours, 2);
  EXPECT_FALSE(c->gc_delete_untagged);
  EXPECT_TRUE(Validate(*c));
  auto negative = ParseConfig(R"({"gc":{"untagged_grace_hours":-1}})");
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message.find("gc.untagged_grace_hours"), std::string::npos);
  EXPECT_FALSE(ParseConfig(R"({"gc":{"delete_untagged":"no"}})"));
  EXPECT_FALSE(ParseConfig(R"({"gc":{"interval_hours":1.5}})"));
}

TEST(Config, HstsIsOffUnlessSet) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->hsts_max_age_seconds, 0);
  auto c = ParseConfig(R"({"tls":{"hsts_max_age_seconds":31536000}})");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->hsts_max_age_seconds, 31536000);
  for (const char* bad :
       {R"({"tls":{"hsts_max_age_seconds":-1}})", R"({"tls":{"hsts_max_age_seconds":"1y"}})",
        R"({"tls":{"hsts_max_age_seconds":63072001}})"}) {
    auto refused = ParseConfig(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("tls.hsts_max_age_seconds"), std::string::npos);
  }
}

TEST(Config, ValidateCatchesHalfTlsAndBadListen) {
  Config c;
  c.tls_cert = "x.crt";
  EXPECT_FALSE(Validate(c));
  c = Config{};
  c.listen = "nowhere";
  EXPECT_FALSE(Validate(c));
  auto l = ParseListen("[::1]:5001");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->host, "::1");
  EXPECT_EQ(l->port, 5001);
}

TEST(Config, SeccompIsOnAndFailsCallsByDefault) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults);
  EXPECT_TRUE(defaults->seccomp);
  EXPECT_EQ(defaults->seccomp_action, "errno");
  EXPECT_TRUE(defaults->user.empty());
  auto c = ParseConfig(R"({"security":{"seccomp":false,"seccomp_action":"kill"},"user":"keep",)"
                       R"("group":"keep"})");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->seccomp);
  EXPECT_EQ(c->seccomp_action, "kill");
  EXPECT_EQ(c->user, "keep");
  EXPECT_EQ(c->group, "keep");
  EXPECT_TRUE(Validate(*c));
  EXPECT_FALSE(ParseConfig(R"({"security":{"seccomp":"yes"}})"));
  auto bad = ParseConfig(R"({"security":{"seccomp_action":"log"}})");
  ASSERT_TRUE(bad);
  auto refused = Validate(*bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("security.seccomp_action"), std::string::npos);
  auto group_alone = ParseConfig(R"({"group":"keep"})");
  ASSERT_TRUE(group_alone);
  EXPECT_FALSE(Validate(*group_alone));
}

}  // namespace
}  // namespace keep

namespace keep {
namespace {

// tls.enabled false makes the listener plain HTTP: only on loopback, or
// with the load balancers in front of it named; never with TLS files that
// would silently go unused.
TEST(Config, PlainHttpNeedsLoopbackOrTrustedProxies) {
  auto loopback = ParseConfig(R"({"listen":"127.0.0.1:5000","tls":{"enabled":false}})");
  ASSERT_TRUE(loopback) << loopback.error().message;
  EXPECT_FALSE(loopback->tls_enabled);
  EXPECT_TRUE(Validate(*loopback));
  EXPECT_TRUE(Validate(*ParseConfig(R"({"listen":"[::1]:5000","tls":{"enabled":false}})")));

  auto open = ParseConfig(R"({"listen":"0.0.0.0:5000","tls":{"enabled":false}})");
  ASSERT_TRUE(open);
  auto refused = Validate(*open);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("proxies.trusted"), std::string::npos)
      << refused.error().message;

  auto behind = ParseConfig(R"({"listen":"0.0.0.0:5000","tls":{"enabled":false},
                               "proxies":{"trusted":["10.0.0.0/24","fd00::7"]}})");
  ASSERT_TRUE(behind) << behind.error().message;
  EXPECT_TRUE(Validate(*behind));
  EXPECT_EQ(behind->trusted_proxies.size(), 2u);

  auto unused = Validate(*ParseConfig(
      R"({"listen":"127.0.0.1:5000","tls":{"enabled":false,"cert":"a.crt","key":"a.key"}})"));
  ASSERT_FALSE(unused);
  EXPECT_NE(unused.error().message.find("tls.enabled"), std::string::npos);
}

TEST(Config, TrustedProxiesMustBeAddressesOrRanges) {
  auto bad = Validate(*ParseConfig(R"({"proxies":{"trusted":["10.0.0.0/8","lb.example"]}})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("proxies.trusted"), std::string::npos);
  EXPECT_NE(bad.error().message.find("lb.example"), std::string::npos);
  EXPECT_FALSE(ParseConfig(R"({"proxies":{"trusted":"10.0.0.0/8"}})"));
  EXPECT_FALSE(ParseConfig(R"({"proxies":{"trusted":[7]}})"));
  // Trusted proxies in front of a TLS listener (a load balancer that
  // re-encrypts) are fine too.
  EXPECT_TRUE(Validate(*ParseConfig(R"({"proxies":{"trusted":["192.0.2.0/24"]}})")));
}

// Why the configuration `json` is refused, by parsing or validation; "" if it is not.
std::string RefusedBy(std::string_view json) {
  auto c = ParseConfig(json);
  if (!c) return c.error().message;
  auto v = Validate(*c);
  return v ? "" : v.error().message;
}

// The s3 driver needs its endpoint, bucket and both halves of its key; the
// secret comes from the environment or a file, never from the JSON.
TEST(Config, S3NeedsAnEndpointABucketAndAKey) {
  EXPECT_NE(RefusedBy(R"({"storage":{"driver":"s3"}})").find("storage.s3.endpoint"),
            std::string::npos);
  EXPECT_NE(RefusedBy(R"({"storage":{"driver":"s3","s3":{"endpoint":"http://s3:7480"}}})")
                .find("storage.s3.bucket"),
            std::string::npos);
  EXPECT_NE(RefusedBy(R"({"storage":{"driver":"s3","s3":{"endpoint":"http://s3:7480",
                          "bucket":"b","access_key":"AK"}}})")
                .find("secret"),
            std::string::npos);
  EXPECT_NE(RefusedBy(R"({"storage":{"driver":"s3","s3":{"secret_key":"SK"}}})"), "");
  EXPECT_NE(RefusedBy(R"({"storage":{"driver":"tape"}})").find("storage.driver"),
            std::string::npos);
  EXPECT_NE(RefusedBy(R"({"storage":{"s3":{"part_size_mib":4}}})"), "");

  auto c = ParseConfig(R"({"storage":{"driver":"s3","s3":{"endpoint":"https://s3.example.org",
                          "bucket":"b","access_key":"AK","prefix":"keep"}}})");
  ASSERT_TRUE(c) << c.error().message;
  c->s3_secret_key = "SK";
  auto prefix = Validate(*c);
  ASSERT_FALSE(prefix);
  EXPECT_NE(prefix.error().message.find("storage.s3.prefix"), std::string::npos);
  c->s3_prefix = "keep/";
  EXPECT_TRUE(Validate(*c));
  EXPECT_FALSE(c->s3_redirect);
  EXPECT_EQ(c->s3_part_size_mib, 8);
}

TEST(Config, S3SecretKeyComesFromAFileWhenTheEnvironmentHasNone) {
  std::string path = ::testing::TempDir() + "/keep-s3-secret";
  {
    std::ofstream out(path);
    out << "the-secret\n";
  }
  auto c = ParseConfig(R"({"storage":{"s3":{"secret_key_file":")" + path + R"("}}})");
  ASSERT_TRUE(c) << c.error().message;
  ::unsetenv("KEEP_S3_SECRET_KEY");
  ASSERT_TRUE(ApplyEnvironment(*c));
  EXPECT_EQ(c->s3_secret_key, "the-secret");

  auto missing = ParseConfig(R"({"storage":{"s3":{"secret_key_file":"/nonexistent/secret"}}})");
  ASSERT_TRUE(missing);
  auto refused = ApplyEnvironment(*missing);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("storage.s3.secret_key_file"), std::string::npos);
  std::remove(path.c_str());
}

TEST(Config, PostgresNeedsAConnectionStringWithoutItsPassword) {
  EXPECT_EQ(RefusedBy("{}"), "");  // SQLite by default
  EXPECT_NE(RefusedBy(R"({"metadata":{"driver":"postgres"}})").find("metadata.postgres.conninfo"),
            std::string::npos);
  EXPECT_NE(RefusedBy(R"({"metadata":{"driver":"mysql"}})").find("metadata.driver"),
            std::string::npos);
  EXPECT_EQ(RefusedBy(R"({"metadata":{"driver":"postgres",
                          "postgres":{"conninfo":"host=db dbname=keep user=keep"}}})"),
            "");
  EXPECT_EQ(RefusedBy(R"({"metadata":{"driver":"postgres",
                          "postgres":{"conninfo":"postgresql://keep@db/keep"}}})"),
            "");
  // The password goes in the environment or a file, never the configuration.
  for (const char* conninfo :
       {"host=db user=keep password=hunter2", "postgresql://keep:hunter2@db/keep"}) {
    std::string json = std::string(R"({"metadata":{"driver":"postgres","postgres":{"conninfo":")") +
                       conninfo + R"("}}})";
    EXPECT_NE(RefusedBy(json).find("must not hold the password"), std::string::npos) << conninfo;
  }
  // The schema is a plain name (it is put into SQL).
  for (const char* schema : {"Keep", "keep; DROP TABLE x", "", "1keep", "ke-ep"}) {
    std::string json =
        std::string(R"({"metadata":{"driver":"postgres","postgres":{"conninfo":"host=db",)") +
        R"("schema":")" + schema + R"("}}})";
    EXPECT_NE(RefusedBy(json).find("metadata.postgres.schema"), std::string::npos) << schema;
  }
  EXPECT_EQ(RefusedBy(R"({"metadata":{"driver":"postgres",
                          "postgres":{"conninfo":"host=db","schema":"registry_2"}}})"),
            "");
}

TEST(Config, PostgresPasswordComesFromTheEnvironmentOrAFile) {
  std::string path = ::testing::TempDir() + "/keep-pg-password";
  {
    std::ofstream out(path);
    out << "from-the-file\n";
  }
  auto c = ParseConfig(R"({"metadata":{"postgres":{"password_file":")" + path + R"("}}})");
  ASSERT_TRUE(c) << c.error().message;
  ::unsetenv("KEEP_POSTGRES_PASSWORD");
  ASSERT_TRUE(ApplyEnvironment(*c));
  EXPECT_EQ(c->postgres_password, "from-the-file");
  ::setenv("KEEP_POSTGRES_PASSWORD", "from-the-environment", 1);
  auto e = ParseConfig(R"({"metadata":{"postgres":{"password_file":")" + path + R"("}}})");
  ASSERT_TRUE(e);
  ASSERT_TRUE(ApplyEnvironment(*e));
  EXPECT_EQ(e->postgres_password, "from-the-environment");
  ::unsetenv("KEEP_POSTGRES_PASSWORD");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace keep
