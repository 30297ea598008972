// keepctl completion and keepctl man: shell completion scripts and the manual
// page, both written from the command table (cli/commands.cc), so that they
// name every command and flag there is and nothing else.
#include "cli/commands.h"

#include "core/version.h"

#include <algorithm>
#include <iostream>
#include <vector>

namespace keep::cli {
namespace {

using Table = std::span<const CommandSpec>;

// The words that may follow `keepctl`: groups and commands without one, in
// table order, each once.
std::vector<std::string> CommandWords(Table table) {
  std::vector<std::string> out;
  for (const CommandSpec& c : table) {
    std::string w(c.group.empty() ? c.name : c.group);
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

// The command without a group named `word`, or null.
const CommandSpec* Ungrouped(Table table, std::string_view word) {
  for (const CommandSpec& c : table) {
    if (c.group.empty() && c.name == word) return &c;
  }
  return nullptr;
}

// The words an argument may be, when the table spells them out as
// lower-case choices ("bash|zsh|fish"); none for "NAME" or "REPO:TAG|REPO@DIGEST".
std::vector<std::string> Choices(const CommandSpec& c) {
  if (c.args.empty() || c.args.find_first_not_of("abcdefghijklmnopqrstuvwxyz|") !=
                            std::string_view::npos) {
    return {};
  }
  std::vector<std::string> out;
  for (std::size_t at = 0; at <= c.args.size();) {
    std::size_t bar = std::min(c.args.find('|', at), c.args.size());
    out.emplace_back(c.args.substr(at, bar - at));
    at = bar + 1;
  }
  return out;
}

// What a group offers in a summary line.
std::string SummaryOf(Table table, std::string_view top) {
  if (const CommandSpec* c = Ungrouped(table, top)) return std::string(c->summary);
  return "keepctl " + std::string(top) + " commands";
}

std::string Join(const std::vector<std::string>& words, std::string_view sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : std::string(sep)) + w;
  return out;
}

std::vector<std::string> FlagWords(const CommandSpec& c) {
  std::vector<std::string> out;
  for (const FlagSpec& f : c.flags) out.push_back("--" + std::string(f.name));
  return out;
}

std::vector<std::string> GlobalFlagWords() {
  std::vector<std::string> out;
  for (const GlobalFlag& g : GlobalFlags()) {
    if (!g.short_name.empty()) out.push_back("-" + std::string(g.short_name));
    out.push_back("--" + std::string(g.name));
  }
  return out;
}

// The flags (of any command, and global) that take a value: after one, the
// shell completes file names.
std::vector<std::string> ValueFlagWords(Table table) {
  std::vector<std::string> out;
  for (const GlobalFlag& g : GlobalFlags()) {
    if (g.value_name.empty()) continue;
    if (!g.short_name.empty()) out.push_back("-" + std::string(g.short_name));
    out.push_back("--" + std::string(g.name));
  }
  for (const CommandSpec& c : table) {
    for (const FlagSpec& f : c.flags) {
      std::string w = "--" + std::string(f.name);
      if (f.kind != FlagSpec::kBool && std::find(out.begin(), out.end(), w) == out.end()) {
        out.push_back(w);
      }
    }
  }
  return out;
}

std::vector<std::string> NamesIn(Table table, std::string_view group) {
  std::vector<std::string> out;
  for (const CommandSpec& c : table) {
    if (c.group == group && !group.empty()) out.emplace_back(c.name);
  }
  return out;
}

// A string inside single quotes of any of the three shells.
std::string Quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string FirstLine(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

// --- bash: one function; the words seen so far pick the list to offer.
std::string Bash(Table table) {
  // The flags that take a value: the word after one is that value, not a command.
  const std::string value_flags = Join(ValueFlagWords(table), "|");
  std::string out =
      "# bash completion for keepctl, written by `keepctl completion bash`.\n"
      "# Load it with: source <(keepctl completion bash)\n"
      "_keepctl() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
      "  local first=\"\" second=\"\" word i\n"
      "  case $prev in\n"
      "    -o|--output) COMPREPLY=($(compgen -W 'json table' -- \"$cur\")); return ;;\n";
  out += "    " + value_flags + ") COMPREPLY=(); return ;;\n";
  out +=
      "  esac\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    word=${COMP_WORDS[i]}\n"
      "    case $word in\n";
  out += "      " + value_flags + ") ((i++)) ;;\n";
  out +=
      "      -*) ;;\n"
      "      *) if [[ -z $first ]]; then first=$word; elif [[ -z $second ]]; then second=$word; fi "
      ";;\n"
      "    esac\n"
      "  done\n"
      "  local words=\"\"\n"
      "  case $first in\n";
  out += "    \"\") words=" + Quoted(Join(CommandWords(table))) + " ;;\n";
  for (const std::string& top : CommandWords(table)) {
    std::vector<std::string> names = NamesIn(table, top);
    out += "    " + top + ")\n";
    if (const CommandSpec* c = Ungrouped(table, top)) {
      out += "      words=" + Quoted(Join(FlagWords(*c)));
      if (!Choices(*c).empty()) {
        out += "; [[ -z $second ]] && words+=" + Quoted(" " + Join(Choices(*c)));
      }
      out += " ;;\n";
      continue;
    }
    out += "      case $second in\n";
    out += "        \"\") words=" + Quoted(Join(names)) + " ;;\n";
    for (const CommandSpec& c : table) {
      if (c.group != top) continue;
      out += "        " + std::string(c.name) + ") words=" + Quoted(Join(FlagWords(c))) + " ;;\n";
    }
    out += "      esac ;;\n";
  }
  out += "  esac\n"
         "  [[ $cur == -* ]] && words+=\" " + Join(GlobalFlagWords()) + "\"\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "}\n"
         "complete -o default -F _keepctl keepctl\n";
  return out;
}

// --- zsh: the same choices, offered with their descriptions.
std::string Zsh(Table table) {
  std::string out =
      "#compdef keepctl\n"
      "# zsh completion for keepctl, written by `keepctl completion zsh`.\n"
      "# Load it with: source <(keepctl completion zsh), or save it as _keepctl in $fpath.\n"
      "_keepctl() {\n"
      "  local -a choices\n"
      "  local first=\"\" second=\"\" i\n"
      "  case ${words[CURRENT-1]} in\n"
      "    -o|--output) compadd json table; return ;;\n"
      "    " + Join(ValueFlagWords(table), "|") + ") _files; return ;;\n"
      "  esac\n"
      "  for ((i = 2; i < CURRENT; i++)); do\n"
      "    case ${words[i]} in\n"
      "      " + Join(ValueFlagWords(table), "|") + ") ((i++)) ;;\n"
      "      -*) ;;\n"
      "      *) if [[ -z $first ]]; then first=${words[i]}; elif [[ -z $second ]]; then second=${words[i]}; fi ;;\n"
      "    esac\n"
      "  done\n"
      "  case $first in\n"
      "    \"\") choices=(\n";
  for (const std::string& top : CommandWords(table)) {
    out += "      " + Quoted(top + ":" + SummaryOf(table, top)) + "\n";
  }
  out += "    ) ;;\n";
  for (const std::string& top : CommandWords(table)) {
    out += "    " + top + ")\n";
    if (const CommandSpec* c = Ungrouped(table, top)) {
      out += "      choices=(";
      for (const auto& f : FlagWords(*c)) out += " " + Quoted(f);
      out += " )";
      if (!Choices(*c).empty()) out += "; [[ -z $second ]] && choices+=(" + Join(Choices(*c)) + ")";
      out += " ;;\n";
      continue;
    }
    out += "      case $second in\n        \"\") choices=(";
    for (const CommandSpec& c : table) {
      if (c.group == top) out += " " + Quoted(std::string(c.name) + ":" + std::string(c.summary));
    }
    out += " ) ;;\n";
    for (const CommandSpec& c : table) {
      if (c.group != top) continue;
      out += "        " + std::string(c.name) + ") choices=(";
      for (const auto& f : FlagWords(c)) out += " " + Quoted(f);
      out += " ) ;;\n";
    }
    out += "      esac ;;\n";
  }
  out += "  esac\n"
         "  [[ ${words[CURRENT]} == -* ]] && choices+=(" + Join(GlobalFlagWords()) + ")\n"
         "  _describe -t commands keepctl choices\n"
         "}\n"
         "compdef _keepctl keepctl\n";
  return out;
}

// --- fish: one `complete` line per command and flag, with its condition.
std::string Fish(Table table) {
  std::string out =
      "# fish completion for keepctl, written by `keepctl completion fish`.\n"
      "# Load it with: keepctl completion fish | source\n"
      "complete -c keepctl -f\n";
  for (const GlobalFlag& g : GlobalFlags()) {
    out += "complete -c keepctl";
    if (!g.short_name.empty()) out += " -s " + std::string(g.short_name);
    out += " -l " + std::string(g.name);
    if (g.name == "output") {
      out += " -x -a 'json table'";
    } else if (!g.value_name.empty()) {
      out += " -r -F";
    }
    out += " -d " + Quoted(FirstLine(g.help)) + "\n";
  }
  const std::string all_tops = Join(CommandWords(table));
  for (const std::string& top : CommandWords(table)) {
    out += "complete -c keepctl -n " + Quoted("not __fish_seen_subcommand_from " + all_tops) +
           " -a " + top + " -d " + Quoted(SummaryOf(table, top)) + "\n";
  }
  for (const CommandSpec& c : table) {
    std::string when;
    if (c.group.empty()) {
      when = "__fish_seen_subcommand_from " + std::string(c.name);
    } else {
      const std::string names = Join(NamesIn(table, c.group));
      out += "complete -c keepctl -n " +
             Quoted("__fish_seen_subcommand_from " + std::string(c.group) +
                    "; and not __fish_seen_subcommand_from " + names) +
             " -a " + std::string(c.name) + " -d " + Quoted(c.summary) + "\n";
      when = "__fish_seen_subcommand_from " + std::string(c.group) +
             "; and __fish_seen_subcommand_from " + std::string(c.name);
    }
    for (const FlagSpec& f : c.flags) {
      out += "complete -c keepctl -n " + Quoted(when) + " -l " + std::string(f.name);
      if (f.kind != FlagSpec::kBool) out += " -r -F";
      out += " -d " + Quoted(FirstLine(f.help)) + "\n";
    }
    if (c.group.empty() && !Choices(c).empty()) {
      out += "complete -c keepctl -n " + Quoted(when) + " -a " + Quoted(Join(Choices(c))) + "\n";
    }
  }
  return out;
}

// Text for roff: backslashes escaped, and a line that would begin with '.'
// or '\'' kept from reading as a request.
std::string Roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string Man(Table table) {
  std::string out = ".TH KEEPCTL 1 \"\" \"keepctl " + std::string(VersionText()) +
                    "\" \"Keep\"\n"
                    ".SH NAME\n"
                    "keepctl \\- the admin CLI of a Keep container-image registry\n"
                    ".SH SYNOPSIS\n"
                    ".B keepctl\n"
                    "[\\fIGLOBAL FLAGS\\fR] \\fICOMMAND\\fR [\\fIARGUMENTS\\fR] [\\fIFLAGS\\fR]\n"
                    ".SH DESCRIPTION\n"
                    "keepctl: " +
                    Roff(HelpIntro()) + ".PP\n" + Roff(HelpNotes()) + ".SH COMMANDS\n";
  for (const CommandSpec& c : table) {
    out += ".TP\n.B " + Roff("keepctl " + SynopsisOf(c)) + "\n" + Roff(c.summary) + "\n";
    if (!c.details.empty()) out += ".IP\n" + Roff(c.details);
    for (const FlagSpec& f : c.flags) {
      std::string left = "--" + std::string(f.name);
      left += (f.kind == FlagSpec::kBool ? "" : " ") + std::string(f.value_name);
      out += ".RS\n.TP\n.B " + Roff(left) + "\n" + Roff(f.help) + "\n.RE\n";
    }
  }
  out += ".SH GLOBAL FLAGS\n";
  for (const GlobalFlag& g : GlobalFlags()) {
    std::string left = g.short_name.empty() ? "" : "-" + std::string(g.short_name) + ", ";
    left += "--" + std::string(g.name);
    if (!g.value_name.empty()) left += " " + std::string(g.value_name);
    out += ".TP\n.B " + Roff(left) + "\n" + Roff(g.help) + "\n";
  }
  out +=
      ".SH ENVIRONMENT\n"
      ".TP\n.B KEEPCTL_CONFIG\nthe credentials file (default "
      "$XDG_CONFIG_HOME/keep/keepctl.json, or ~/.config/keep/keepctl.json)\n"
      ".TP\n.B KEEPCTL_USER, KEEPCTL_PASSWORD, KEEPCTL_SERVER, KEEPCTL_CA\n"
      "credentials that stand in for a saved login, for every command (CI)\n"
      ".TP\n.B KEEPCTL_KEY_PASSPHRASE\nthe passphrase of an encrypted signing key\n"
      ".TP\n.B KEEPCTL_PROGRESS\n"
      "always: gc and fsck write their progress on stderr, a line per change, even off a "
      "terminal\n"
      ".TP\n.B KEEPCTL_TRUSTED_ROOT\n"
      "sigstore's trusted_root.json for verify-bundle, when --trusted-root is not given\n"
      ".SH EXIT STATUS\n"
      "0 done, 1 failed (the server's message is printed), 2 bad command line.\n";
  return out;
}

}  // namespace

Result<void> Completion(const Invocation& inv) {
  const std::string& shell = inv.args[0];
  if (shell == "bash") {
    std::cout << Bash(CommandTable());
  } else if (shell == "zsh") {
    std::cout << Zsh(CommandTable());
  } else if (shell == "fish") {
    std::cout << Fish(CommandTable());
  } else {
    return Usage("keepctl completion writes bash, zsh or fish, not \"" + shell + "\"",
                 inv.command->FullName());
  }
  return {};
}

Result<void> ManPage(const Invocation&) {
  std::cout << Man(CommandTable());
  return {};
}

}  // namespace keep::cli
