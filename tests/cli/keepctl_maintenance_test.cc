// keepctl gc and fsck against a real keepd: what a dry run lists and leaves
// on disk, what a run deletes, a corrupt blob found, named and quarantined,
// and a non-admin refused with the server's message.
#include "tests/cli/keepctl_fixture.h"
#include "tests/support/registry.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRepo = "acme/app";
constexpr const char* kUserPassword = "a-user-password-1234";
const Headers kJson = {{"Content-Type", "application/json"}};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whether the item table of a gc or fsck report has the row "KIND  ITEM"
// (columns padded to the widest cell, so only the ends are fixed).
bool HasRow(const std::string& out, const std::string& kind, const std::string& item) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(kind + " ", 0) != 0) continue;
    std::string rest = line.substr(kind.size());
    rest.erase(0, rest.find_first_not_of(' '));
    while (!rest.empty() && rest.back() == ' ') rest.pop_back();
    if (rest == item || rest.rfind(item + " ", 0) == 0) return true;
  }
  return false;
}

// The value of the summary line "key:   value" (padded), or "" when absent.
std::string Summary(const std::string& out, const std::string& key) {
  std::string value = ValueOf(out, key);
  value.erase(0, value.find_first_not_of(' '));
  return value;
}

std::vector<std::string> Items(const json& report, const char* key) {
  return report.at(key).at("items").get<std::vector<std::string>>();
}

std::string ConfigDigest(const Manifest& m) {
  return json::parse(m.bytes)["config"]["digest"].get<std::string>();
}

class KeepctlMaintenanceTest : public KeepctlServerTest {
 protected:
  fs::path BlobFile(const std::string& digest) const {
    std::string hex = digest.substr(digest.find(':') + 1);
    return keepd_.data_dir() / "blobs" / "sha256" / hex.substr(0, 2) / hex;
  }

  // The manifest by tag and by digest, and each of its blobs, byte for byte.
  void ExpectPulls(const std::string& tag, const Manifest& m) {
    SCOPED_TRACE(std::string(kRepo) + ":" + tag);
    for (const std::string& ref : {tag, m.digest()}) {
      Response r = client_.Get(ManifestPath(kRepo, ref), {{"Accept", m.media_type}});
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_TRUE(r.body == m.bytes) << ref;
    }
    json j = json::parse(m.bytes);
    std::vector<std::string> blobs = {j["config"]["digest"].get<std::string>()};
    for (const auto& l : j["layers"]) blobs.push_back(l["digest"].get<std::string>());
    for (const auto& digest : blobs) {
      Response blob = client_.Get(BlobPath(kRepo, digest));
      EXPECT_EQ(blob.status, 200) << digest;
      EXPECT_EQ(DigestOf(blob.body), digest);
    }
  }

  HttpsClient client_ = keepd_.AdminClient();
};

TEST_F(KeepctlMaintenanceTest, GcDryRunListsWhatARunDeletes) {
  Manifest kept = PushImage(client_, kRepo, "v1", {.layer = "kept layer"});
  Manifest gone = PushImage(client_, kRepo, "v2", {.layer = "gone layer"});
  // Deleting the tag leaves the manifest untagged, for gc to collect (a
  // DELETE by digest would remove the manifest itself at once).
  ASSERT_EQ(client_.Delete(ManifestPath(kRepo, "v2")).status, 202);
  ASSERT_EQ(client_.Get(ManifestPath(kRepo, gone.digest()), {{"Accept", gone.media_type}}).status,
            200);
  const std::string layer = DigestOf("gone layer");
  const std::vector<std::string> garbage = {layer, ConfigDigest(gone), gone.digest()};
  ASSERT_NE(ConfigDigest(gone), ConfigDigest(kept)) << "the images must share no blob";
  for (const auto& d : garbage) ASSERT_TRUE(fs::exists(BlobFile(d))) << d;
  // Times are whole seconds: with grace 0 content pushed this second is still young.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  std::string out = Ok({"gc", "--dry-run", "--grace", "0s"});
  EXPECT_TRUE(Contains(out, "Would delete (dry run: nothing was deleted):\n")) << out;
  EXPECT_TRUE(Contains(out, "  manifests:        1\n")) << out;
  EXPECT_TRUE(Contains(out, "  blob files:       3 (")) << out;
  EXPECT_TRUE(HasRow(out, "manifest", std::string(kRepo) + "@" + gone.digest())) << out;
  for (const auto& d : garbage) {
    EXPECT_TRUE(HasRow(out, "blob file", d)) << d << "\n" << out;
    EXPECT_TRUE(HasRow(out, "blob link", std::string(kRepo) + "@" + d)) << d << "\n" << out;
  }
  EXPECT_FALSE(Contains(out, kept.digest())) << out;
  // A dry run changes nothing: the files are there, the manifest still served.
  for (const auto& d : garbage) EXPECT_TRUE(fs::exists(BlobFile(d))) << d;
  EXPECT_EQ(client_.Get(ManifestPath(kRepo, gone.digest()), {{"Accept", gone.media_type}}).status,
            200);

  // --output json is the server's report as it is.
  out = Ok({"--output", "json", "gc", "--dry-run", "--grace", "0s"});
  json report = json::parse(out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << out;
  EXPECT_EQ(report["dry_run"], true) << report;
  EXPECT_EQ(Items(report, "manifests"),
            std::vector<std::string>{std::string(kRepo) + "@" + gone.digest()});
  EXPECT_EQ(report["blob_files"]["count"], 3) << report;
  auto files = Items(report, "blob_files");
  for (const auto& d : garbage) {
    EXPECT_NE(std::find(files.begin(), files.end(), d), files.end()) << d << "\n" << report;
  }
  EXPECT_GT(report["bytes_freed"].get<std::int64_t>(), 0) << report;
  for (const auto& d : garbage) EXPECT_TRUE(fs::exists(BlobFile(d))) << d;

  out = Ok({"gc", "--grace", "0s"});
  EXPECT_TRUE(Contains(out, "Deleted:\n")) << out;
  EXPECT_TRUE(Contains(out, "  blob files:       3 (")) << out;
  EXPECT_TRUE(HasRow(out, "manifest", std::string(kRepo) + "@" + gone.digest())) << out;
  for (const auto& d : garbage) {
    EXPECT_TRUE(HasRow(out, "blob file", d)) << d << "\n" << out;
    EXPECT_FALSE(fs::exists(BlobFile(d))) << d;
  }
  EXPECT_TRUE(IsError(client_.Get(ManifestPath(kRepo, gone.digest())), 404, "MANIFEST_UNKNOWN"));
  EXPECT_TRUE(IsError(client_.Get(BlobPath(kRepo, layer)), 404, "BLOB_UNKNOWN"));
  ExpectPulls("v1", kept);

  // Nothing is left to collect.
  out = Ok({"gc", "--grace", "0s"});
  EXPECT_TRUE(Contains(out, "  manifests:        0\n")) << out;
  EXPECT_TRUE(Contains(out, "  blob files:       0 (")) << out;
}

TEST_F(KeepctlMaintenanceTest, FsckNamesACorruptBlobAndRepairQuarantinesIt) {
  Manifest m = PushImage(client_, kRepo, "v1", {.layer = "bytes that will rot"});
  const std::string layer = DigestOf("bytes that will rot");

  KeepctlRun run = admin_.Run({"fsck"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(run.err, "") << run;
  EXPECT_EQ(Summary(run.out, "blobs checked").rfind("3 (", 0), 0u) << run;
  EXPECT_EQ(Summary(run.out, "corrupt"), "0") << run;
  EXPECT_EQ(Summary(run.out, "missing blobs"), "0") << run;
  EXPECT_EQ(Summary(run.out, "broken manifests"), "0") << run;

  {  // One byte flipped in place, as a failing disk would.
    std::fstream f(BlobFile(layer), std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekg(3);
    char c = 0;
    ASSERT_TRUE(f.get(c));
    f.seekp(3);
    f.put(static_cast<char>(c ^ 0x01));
  }
  run = admin_.Run({"fsck"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(Summary(run.out, "corrupt"), "1") << run;
  EXPECT_TRUE(HasRow(run.out, "corrupt", layer)) << run;
  EXPECT_TRUE(Contains(run.err, "keepctl: the check found 1 problem(s)")) << run;
  EXPECT_TRUE(Contains(run.err, "fsck --repair")) << run;
  EXPECT_TRUE(fs::exists(BlobFile(layer))) << "without --repair nothing changes";
  EXPECT_FALSE(fs::exists(keepd_.data_dir() / "quarantine") &&
               !fs::is_empty(keepd_.data_dir() / "quarantine"));

  // The file goes to quarantine/ and its link is dropped; the manifest then
  // misses a blob, which keepctl reports as a problem that remains.
  run = admin_.Run({"fsck", "--repair"});
  EXPECT_EQ(run.exit_code, 1) << run;
  EXPECT_EQ(Summary(run.out, "quarantined"), "1") << run;
  EXPECT_EQ(Summary(run.out, "links dropped"), "1") << run;
  EXPECT_TRUE(HasRow(run.out, "link dropped", std::string(kRepo) + "@" + layer)) << run;
  EXPECT_TRUE(Contains(run.err, "1 manifest(s) still miss content")) << run;
  EXPECT_FALSE(fs::exists(BlobFile(layer)));
  std::vector<std::string> quarantined;
  if (fs::is_directory(keepd_.data_dir() / "quarantine")) {
    for (const auto& e : fs::directory_iterator(keepd_.data_dir() / "quarantine")) {
      quarantined.push_back(e.path().filename().string());
    }
  }
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_EQ(quarantined[0].rfind("sha256-" + layer.substr(7) + ".", 0), 0u) << quarantined[0];
  EXPECT_TRUE(Contains(run.out, "/quarantine/" + quarantined[0] + "\n")) << run;
  EXPECT_TRUE(IsError(client_.Get(BlobPath(kRepo, layer)), 404, "BLOB_UNKNOWN"));

  // Pushing the blob again mends the image: the check is clean again.
  PushBlob(client_, kRepo, "bytes that will rot");
  run = admin_.Run({"fsck"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(Summary(run.out, "corrupt"), "0") << run;
  EXPECT_EQ(Summary(run.out, "broken manifests"), "0") << run;
  ExpectPulls("v1", m);
}

// Off a terminal keepctl draws no progress unless KEEPCTL_PROGRESS=always;
// then it writes the server's progress (GET /admin/v1/maintenance) on
// stderr, a line per change, ending with the state the run ended in.
TEST_F(KeepctlMaintenanceTest, ProgressGoesToStderrWhenAsked) {
  EXPECT_EQ(client_.Get("/admin/v1/maintenance").Json(), json({{"running", false}}));
  PushImage(client_, kRepo, "v1", {.layer = "a layer to watch"});
  admin_.SetEnv("KEEPCTL_PROGRESS", "always");

  KeepctlRun run = admin_.Run({"fsck"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_TRUE(Contains(run.err, "fsck: manifests 1 ")) << run;  // the last phase: 1 repository
  EXPECT_EQ(Summary(run.out, "corrupt"), "0") << run;           // the report is unchanged
  json state = client_.Get("/admin/v1/maintenance").Json();
  EXPECT_EQ(state["running"], false) << state;
  EXPECT_EQ(state["operation"], "fsck") << state;
  EXPECT_EQ(state["ok"], true) << state;
  EXPECT_EQ(state["phase"], "manifests") << state;

  run = admin_.Run({"gc", "--dry-run"});
  EXPECT_EQ(run.exit_code, 0) << run;
  // Its last phase: the 3 blob files (config, layer, manifest), their bytes.
  EXPECT_TRUE(Contains(run.err, "gc: blob files 3 ")) << run;

  run = admin_.Run({"-o", "json", "fsck"});
  EXPECT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(run.err, "") << run;  // nothing but the report with -o json
}

TEST_F(KeepctlMaintenanceTest, ANonAdminIsDeniedWithTheServersMessage) {
  Ok({"namespace", "create", "acme"});
  Ok({"user", "add", "dave", "--password-stdin"}, kUserPassword);
  Ok({"member", "add", "acme", "dave", "--role", "maintainer"});
  Manifest gone = PushImage(client_, kRepo, "v1");
  ASSERT_EQ(client_.Delete(ManifestPath(kRepo, gone.digest())).status, 202);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  Keepctl dave;
  Login(dave, "dave", kUserPassword);
  HttpsClient as_dave = keepd_.AnonymousClient();
  as_dave.SetBasicAuth("dave", kUserPassword);
  for (const char* name : {"gc", "fsck", "backup"}) {
    const std::string call = name;
    SCOPED_TRACE(call);
    Response denied = as_dave.Post("/admin/v1/" + call, "{}", kJson);
    ASSERT_TRUE(IsError(denied, 403, "DENIED")) << denied.body;
    const std::string message = denied.Json()["errors"][0]["message"];
    std::vector<std::string> args = {call};
    if (call == "gc") args.insert(args.end(), {"--grace", "0s"});
    KeepctlRun run = dave.Run(args);
    EXPECT_EQ(run.exit_code, 1) << run;
    EXPECT_EQ(run.err, "keepctl: " + message + "\n") << run;
    EXPECT_EQ(run.out, "") << run;
  }
  // Dave's gc collected nothing, and his backup wrote nothing.
  EXPECT_TRUE(fs::exists(BlobFile(gone.digest())));
  EXPECT_FALSE(fs::exists(keepd_.data_dir() / "backups"));
}

TEST_F(KeepctlMaintenanceTest, BackupPrintsWhereTheCopyIsOnTheServer) {
  PushImage(client_, kRepo, "v1");
  std::string out = Ok({"backup"});
  const fs::path dir = fs::canonical(keepd_.data_dir() / "backups");
  std::vector<fs::path> copies(fs::directory_iterator(dir), fs::directory_iterator{});
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_TRUE(Contains(out, "Copied the metadata database (")) << out;
  // The path printed is the file made.
  std::istringstream lines(out);
  std::string line, path_line;
  while (std::getline(lines, line)) {
    if (line.rfind("  /", 0) == 0) path_line = line.substr(2);
  }
  ASSERT_FALSE(path_line.empty()) << out;
  EXPECT_TRUE(fs::equivalent(path_line, copies[0])) << out;
  // -o json is the server's answer as it is.
  out = Ok({"--output", "json", "backup"});
  json report = json::parse(out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << out;
  EXPECT_TRUE(fs::exists(report["path"].get<std::string>())) << report;
  EXPECT_GT(report["bytes"].get<std::int64_t>(), 0) << report;
}

}  // namespace
}  // namespace keep::testkit
