// --version on keepctl and keepd: the project's version and the commit built,
// and the build step that names the commit (cmake/version.cmake).
#include "tests/cli/run_keepctl.h"
#include "tests/support/keepd_process.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

// The first line `command` prints, or "" when it fails.
std::string FirstLine(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    if (::pclose(p) != 0) return "";
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// What the commit of this build must look like: the sources' HEAD when they
// are a git checkout ("<hash>" or "<hash>-dirty", or "<tag>-N-g<hash>" after
// a tag), else "unknown".
void ExpectCommitOfTheSources(const std::string& commit) {
  const std::string head =
      FirstLine("git -C '" + std::string(KEEP_SOURCE_DIR) + "' rev-parse HEAD 2>/dev/null");
  if (!fs::exists(fs::path(KEEP_SOURCE_DIR) / ".git") || head.empty()) {
    EXPECT_EQ(commit, "unknown");
    return;
  }
  std::string hash = commit;
  if (hash.ends_with("-dirty")) hash.resize(hash.size() - 6);
  if (auto g = hash.rfind("-g"); g != std::string::npos) hash.erase(0, g + 2);
  EXPECT_GE(hash.size(), 7u) << commit;
  EXPECT_EQ(head.rfind(hash, 0), 0u) << commit << " is not HEAD " << head;
}

// "keepctl 0.1.0 (commit X)\n" → X, checking the rest.
std::string CommitIn(const std::string& out, const std::string& program) {
  const std::string prefix = program + " " + KEEP_PROJECT_VERSION + " (commit ";
  EXPECT_EQ(out.rfind(prefix, 0), 0u) << out;
  EXPECT_TRUE(out.ends_with(")\n")) << out;
  if (out.size() < prefix.size() + 2) return "";
  return out.substr(prefix.size(), out.size() - prefix.size() - 2);
}

TEST(KeepctlVersion, NamesTheVersionAndTheCommitBuilt) {
  Keepctl keepctl;  // needs no login
  KeepctlRun run = keepctl.Run({"--version"});
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(run.err, "");
  const std::string commit = CommitIn(run.out, "keepctl");
  ExpectCommitOfTheSources(commit);

  // Anywhere on the line, as the other global flags; -o json for scripts.
  EXPECT_EQ(keepctl.Run({"user", "list", "--version"}).out, run.out);
  run = keepctl.Run({"--version", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run;
  EXPECT_EQ(nlohmann::json::parse(run.out),
            (nlohmann::json{{"version", KEEP_PROJECT_VERSION}, {"commit", commit}}));
  EXPECT_NE(keepctl.Run({"--help"}).out.find("--version"), std::string::npos);
}

TEST(KeepdVersion, NamesTheSameVersionAndCommitAsKeepctl) {
  Keepctl runner;
  KeepctlRun keepd = runner.RunProgram(KeepdBinary(), {"--version"});
  ASSERT_EQ(keepd.exit_code, 0) << keepd;
  EXPECT_EQ(keepd.err, "");
  const std::string commit = CommitIn(keepd.out, "keepd");
  ExpectCommitOfTheSources(commit);
  EXPECT_EQ(commit, CommitIn(runner.Run({"--version"}).out, "keepctl"));
  EXPECT_NE(runner.RunProgram(KeepdBinary(), {"--help"}).out.find("keepd --version"),
            std::string::npos);
}

std::string Slurp(const fs::path& path) {
  std::ostringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

// Built from a tarball there is no git history: the commit is "unknown",
// unless the build names it (-DKEEP_GIT_COMMIT=...).
TEST(KeepVersionScript, SourcesWithoutGitNameNoCommit) {
  Keepctl runner;
  const fs::path sources = runner.dir() / "keep-0.1.0";
  fs::create_directories(sources);
  const fs::path out = runner.dir() / "version.cc";
  const std::string script = std::string(KEEP_SOURCE_DIR) + "/cmake/version.cmake";
  KeepctlRun run = runner.RunProgram(
      KEEP_CMAKE_COMMAND, {"-DSOURCE_DIR=" + sources.string(), "-DOUTPUT=" + out.string(),
                           "-DVERSION=9.8.7", "-P", script});
  ASSERT_EQ(run.exit_code, 0) << run;
  std::string text = Slurp(out);
  EXPECT_NE(text.find("VersionText() { return \"9.8.7\"; }"), std::string::npos) << text;
  EXPECT_NE(text.find("CommitText() { return \"unknown\"; }"), std::string::npos) << text;

  run = runner.RunProgram(KEEP_CMAKE_COMMAND,
                          {"-DSOURCE_DIR=" + sources.string(), "-DOUTPUT=" + out.string(),
                           "-DVERSION=9.8.7", "-DCOMMIT=v9.8.7-\"quoted\"", "-P", script});
  ASSERT_EQ(run.exit_code, 0) << run;
  text = Slurp(out);
  EXPECT_NE(text.find("CommitText() { return \"v9.8.7-_quoted_\"; }"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace keep::testkit
