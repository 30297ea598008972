// keepctl completion and keepctl man, checked against what `keepctl --help`
// lists: every command and every flag, in each shell and in the manual.
#include "tests/cli/run_keepctl.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

namespace keep::testkit {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct Listed {
  std::vector<std::string> words;  // {"user", "add"} or {"login"}
  std::vector<std::string> flags;  // {"--admin", "--password-stdin"}
  std::vector<std::string> shown;  // as help shows them: "--anonymous-pull=true|false"
};

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Every command `keepctl --help` lists, with the flags its own --help lists.
std::vector<Listed> ListedCommands(const Keepctl& keepctl) {
  std::istringstream help(keepctl.Run({"--help"}).out);
  std::vector<Listed> out;
  bool in_commands = false;
  for (std::string line; std::getline(help, line);) {
    if (line == "Commands:") {
      in_commands = true;
      continue;
    }
    if (!in_commands) continue;
    if (line.empty()) break;
    std::vector<std::string> words = Words(line);
    Listed c;
    c.words = {words[0]};
    const std::string group_help = keepctl.Run({words[0], "--help"}).out;
    if (group_help.rfind("Usage: keepctl " + words[0] + " COMMAND", 0) == 0) {
      c.words.push_back(words[1]);
    }
    std::vector<std::string> args = c.words;
    args.push_back("--help");
    std::istringstream command_help(keepctl.Run(args).out);
    bool in_flags = false;
    for (std::string l; std::getline(command_help, l);) {
      if (l == "Flags:") in_flags = true;
      if (l.empty()) in_flags = false;
      if (in_flags && l.rfind("  --", 0) == 0) {
        const std::string shown = Words(l)[0];
        c.shown.push_back(shown);
        c.flags.push_back(shown.substr(0, shown.find('=')));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

// "--password-stdin" as roff writes it: "\-\-password\-stdin".
std::string RoffDashes(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

TEST(KeepctlCompletion, BashCompletesEveryCommandAndFlag) {
  Keepctl keepctl;
  const std::vector<Listed> commands = ListedCommands(keepctl);
  ASSERT_GE(commands.size(), 40u);
  // One bash run: each line asks what follows some words, as a shell would.
  std::string script = "source <('" + std::string(KEEPCTL_PATH) +
                       "' completion bash) || exit 9\n"
                       "ask() { COMP_WORDS=(\"$@\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
                       "COMPREPLY=(); _keepctl; echo \"$* => ${COMPREPLY[*]}\"; }\n";
  for (const Listed& c : commands) {
    script += "ask keepctl " + (c.words.size() == 2 ? c.words[0] + " ''" : "''") + "\n";
    script += "ask keepctl " + Join(c.words) + " --\n";
  }
  KeepctlRun run = keepctl.RunProgram("/bin/bash", {"-c", script});
  ASSERT_EQ(run.exit_code, 0) << run;
  std::map<std::string, std::vector<std::string>> offered;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);) {
    auto arrow = line.find(" => ");
    ASSERT_NE(arrow, std::string::npos) << line;
    offered[line.substr(0, arrow)] = Words(line.substr(arrow + 4));
  }
  auto offers = [&](const std::string& asked, const std::string& word) {
    const auto& words = offered[asked];
    return std::find(words.begin(), words.end(), word) != words.end();
  };
  for (const Listed& c : commands) {
    SCOPED_TRACE(Join(c.words));
    if (c.words.size() == 2) {
      EXPECT_TRUE(offers("keepctl " + c.words[0] + " ", c.words[1]));
      EXPECT_TRUE(offers("keepctl ", c.words[0]));
    } else {
      EXPECT_TRUE(offers("keepctl ", c.words[0]));
    }
    for (const auto& flag : c.flags) EXPECT_TRUE(offers("keepctl " + Join(c.words) + " --", flag));
    EXPECT_TRUE(offers("keepctl " + Join(c.words) + " --", "--output"));
  }

  // Values: -o's two formats, the shells, and file names after --key.
  run = keepctl.RunProgram(
      "/bin/bash",
      {"-c", "source <('" + std::string(KEEPCTL_PATH) + "' completion bash)\n"
             "complete -p keepctl\n"
             "COMP_WORDS=(keepctl -o ''); COMP_CWORD=2; _keepctl; echo \"${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(keepctl completion ''); COMP_CWORD=2; _keepctl; echo \"${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(keepctl sign a:b --key ''); COMP_CWORD=4; _keepctl; echo \"${#COMPREPLY[@]}\"\n"});
  EXPECT_EQ(run.out, "complete -o default -F _keepctl keepctl\njson table\nbash zsh fish\n0\n")
      << run;
}

TEST(KeepctlCompletion, ZshAndFishNameEveryCommandAndFlag) {
  Keepctl keepctl;
  const std::vector<Listed> commands = ListedCommands(keepctl);
  KeepctlRun zsh = keepctl.Run({"completion", "zsh"});
  KeepctlRun fish = keepctl.Run({"completion", "fish"});
  ASSERT_EQ(zsh.exit_code, 0) << zsh;
  ASSERT_EQ(fish.exit_code, 0) << fish;
  EXPECT_EQ(zsh.out.rfind("#compdef keepctl\n", 0), 0u);
  for (const Listed& c : commands) {
    SCOPED_TRACE(Join(c.words));
    const std::string& name = c.words.back();
    EXPECT_TRUE(Contains(zsh.out, "'" + name + ":")) << name;
    EXPECT_TRUE(Contains(fish.out, " -a " + name + " -d ")) << name;
    for (const auto& flag : c.flags) {
      EXPECT_TRUE(Contains(zsh.out, "'" + flag + "'")) << flag;
      EXPECT_TRUE(Contains(fish.out, "__fish_seen_subcommand_from " + name + "' -l " +
                                         flag.substr(2)))
          << flag;
    }
  }
  // zsh is not always installed; when it is, the script must parse.
  if (fs::exists("/bin/zsh")) {
    KeepctlRun parsed = keepctl.RunProgram("/bin/zsh", {"-n", "-c", zsh.out});
    EXPECT_EQ(parsed.exit_code, 0) << parsed;
  }
  KeepctlRun bad = keepctl.Run({"completion", "tcsh"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_TRUE(Contains(bad.err, "bash, zsh or fish")) << bad;
}

TEST(KeepctlMan, TheManualPageNamesEveryCommandAndFlag) {
  Keepctl keepctl;
  const std::vector<Listed> commands = ListedCommands(keepctl);
  KeepctlRun man = keepctl.Run({"man"});
  ASSERT_EQ(man.exit_code, 0) << man;
  EXPECT_EQ(man.out.rfind(".TH KEEPCTL 1 ", 0), 0u) << man.out.substr(0, 200);
  for (const Listed& c : commands) {
    SCOPED_TRACE(Join(c.words));
    EXPECT_TRUE(Contains(man.out, ".B keepctl " + RoffDashes(Join(c.words)))) << Join(c.words);
    for (const auto& flag : c.shown) {
      EXPECT_TRUE(Contains(man.out, ".B " + RoffDashes(flag) + "\n") ||
                  Contains(man.out, ".B " + RoffDashes(flag) + " "))
          << flag;
    }
  }
  for (const char* section : {".SH GLOBAL FLAGS\n", ".SH ENVIRONMENT\n", ".SH EXIT STATUS\n"}) {
    EXPECT_TRUE(Contains(man.out, section)) << section;
  }
  // groff, when there, reads it without a warning.
  if (fs::exists("/usr/bin/groff")) {
    KeepctlRun groff = keepctl.RunProgram("/usr/bin/groff", {"-man", "-Tutf8", "-ww", "-z"}, man.out);
    EXPECT_EQ(groff.exit_code, 0) << groff;
    EXPECT_EQ(groff.err, "") << groff;
  }
}

}  // namespace
}  // namespace keep::testkit
