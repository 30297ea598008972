#include "cli/args.h"

#include <algorithm>

namespace keep::cli {
namespace {

constexpr GlobalFlag kGlobalFlags[] = {
    {"server", "", "URL",
     "the registry, e.g. https://registry.example:5000\n"
     "(default: the one saved by `keepctl login`)"},
    {"ca", "", "FILE",
     "PEM certificate(s) to verify the registry's TLS certificate with\n"
     "(default: the one saved by `keepctl login`, else the system's CAs)"},
    {"output", "o", "FMT", "table (default) or json: the server's answer as it is"},
    {"help", "h", "", "show help"},
    {"version", "", "", "show keepctl's version and the commit it was built from"},
};

constexpr std::string_view kIntro =
    "manage the users, robot accounts, namespaces, members, publisher keys and\n"
    "trust policies of a Keep registry; list its repositories and tags; show, sign and\n"
    "verify images; collect garbage\n";

constexpr std::string_view kNotes =
    "Start with `keepctl login`. It keeps the server, user, password and CA file in\n"
    "$XDG_CONFIG_HOME/keep/keepctl.json (or ~/.config/keep/keepctl.json; the variable\n"
    "KEEPCTL_CONFIG names another file), readable by you alone.\n"
    "Images are named as docker names them: REPO:TAG, REPO@DIGEST or REPO:TAG@DIGEST,\n"
    "which may be led by docker:// and by the registry's HOST:PORT/ (no other registry's).\n"
    "Run `keepctl COMMAND --help` for the flags of a command.\n"
    "Exit status: 0 done, 1 failed, 2 bad command line.\n";

const FlagSpec* FindFlag(const CommandSpec& command, std::string_view name) {
  for (const FlagSpec& f : command.flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const CommandSpec* FindCommand(std::span<const CommandSpec> table, std::string_view group,
                               std::string_view name) {
  for (const CommandSpec& c : table) {
    if (c.group == group && c.name == name) return &c;
  }
  return nullptr;
}

bool IsGroup(std::span<const CommandSpec> table, std::string_view group) {
  return std::any_of(table.begin(), table.end(),
                     [&](const CommandSpec& c) { return !c.group.empty() && c.group == group; });
}

enum class Flags { kNone, kRequired, kAll };

// "user add NAME --role ROLE [--admin]": the command's words, arguments and flags.
std::string Synopsis(const CommandSpec& c, Flags which) {
  std::string out = c.group.empty() ? std::string(c.name) : std::string(c.group) + " " +
                                                               std::string(c.name);
  if (!c.args.empty()) out += " " + std::string(c.args);
  for (const FlagSpec& f : c.flags) {
    if (which == Flags::kNone || (!f.required && which == Flags::kRequired)) continue;
    std::string flag = "--" + std::string(f.name);
    flag += (f.kind == FlagSpec::kBool ? "" : " ") + std::string(f.value_name);
    if (f.kind == FlagSpec::kList) flag += f.required ? " [" + flag + " ...]" : " ...";
    out += " " + (f.required ? flag : "[" + flag + "]");
  }
  return out;
}

// Two columns: the left ones padded to the widest.
std::string Columns(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t width = 0;
  for (const auto& [left, right] : rows) width = std::max(width, left.size());
  std::string out;
  for (const auto& [left, right] : rows) {
    // A long right-hand text goes on in the same column.
    std::string text = right;
    for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', nl + 1)) {
      text.insert(nl + 1, std::string(width + 5, ' '));
    }
    out += "  " + left + std::string(width - left.size() + 3, ' ') + text + "\n";
  }
  return out;
}

std::string GlobalFlagsHelp() {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const GlobalFlag& g : kGlobalFlags) {
    std::string left = g.short_name.empty() ? "" : "-" + std::string(g.short_name) + ", ";
    left += "--" + std::string(g.name);
    if (!g.value_name.empty()) left += " " + std::string(g.value_name);
    rows.emplace_back(left, std::string(g.help));
  }
  return "Global flags (anywhere on the line):\n" + Columns(rows);
}

std::string Where(const CommandSpec* command, std::string_view group) {
  if (command) return command->FullName();
  return group.empty() ? "keepctl" : "keepctl " + std::string(group);
}

std::string JoinNames(std::span<const CommandSpec> table, std::string_view group) {
  std::string out;
  for (const CommandSpec& c : table) {
    if (c.group != group) continue;
    out += (out.empty() ? "" : ", ") + std::string(c.name);
  }
  return out;
}

// The edit distance (insertions, deletions, substitutions, and swaps of
// two neighbours: "lsit") between two short words.
std::size_t Distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate `word` was most likely meant to be: the nearest one within
// a third of its length (at least one edit, at most two), else one it begins
// ("names" for "namespace"); "" when none is near.
std::string_view Nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::size_t allowed = std::clamp<std::size_t>(word.size() / 3, 1, 2);
  std::string_view best;
  std::size_t best_distance = allowed + 1;
  for (std::string_view c : candidates) {
    std::size_t d = Distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (!best.empty() || word.size() < 3) return best;
  for (std::string_view c : candidates) {
    if (c.rfind(word, 0) == 0) return c;
  }
  return {};
}

// What may follow `keepctl`: the groups and the commands without one.
std::vector<std::string_view> TopWords(std::span<const CommandSpec> table) {
  std::vector<std::string_view> out;
  for (const CommandSpec& c : table) {
    std::string_view w = c.group.empty() ? c.name : c.group;
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

std::vector<std::string_view> CommandsOf(std::span<const CommandSpec> table,
                                         std::string_view group) {
  std::vector<std::string_view> out;
  for (const CommandSpec& c : table) {
    if (c.group == group) out.push_back(c.name);
  }
  return out;
}

// A usage failure whose hint first names what was probably meant.
Failure UsageWithGuess(std::string message, std::string_view guess, std::string_view shown_as,
                       const std::string& help_command) {
  Failure f = Usage(std::move(message), help_command);
  if (!guess.empty()) {
    f.hint = "did you mean \"" + std::string(shown_as) + std::string(guess) + "\"?\n" + f.hint;
  }
  return f;
}

}  // namespace

std::string CommandSpec::FullName() const {
  return group.empty() ? "keepctl " + std::string(name)
                       : "keepctl " + std::string(group) + " " + std::string(name);
}

std::optional<std::string> Invocation::Value(std::string_view flag) const {
  auto it = flags.find(flag);
  if (it == flags.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Invocation::Values(std::string_view flag) const {
  auto it = flags.find(flag);
  return it == flags.end() ? std::vector<std::string>() : it->second;
}

Result<Parsed> Parse(std::span<const CommandSpec> table, std::span<const std::string> words) {
  Invocation inv;
  bool help = false;
  bool version = false;
  bool end_of_flags = false;
  std::string group;  // set once the first word named a group
  const CommandSpec* command = nullptr;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (!end_of_flags && word == "--") {
      end_of_flags = true;
      continue;
    }
    if (!end_of_flags && word.size() > 1 && word[0] == '-') {
      if (word == "-h" || word == "--help") {
        help = true;
        continue;
      }
      if (word == "--version") {
        version = true;
        continue;
      }
      std::string name;
      std::optional<std::string> inline_value;
      if (word.rfind("--", 0) == 0) {
        name = word.substr(2);
        if (auto eq = name.find('='); eq != std::string::npos) {
          inline_value = name.substr(eq + 1);
          name.resize(eq);
        }
      } else if (word.rfind("-o", 0) == 0) {
        // -o is --output: "-o json", "-ojson" and "-o=json".
        name = "output";
        if (word.size() > 2) inline_value = word.substr(word[2] == '=' ? 3 : 2);
      } else {
        return Usage("unknown flag " + word, Where(command, group));
      }
      auto take_value = [&]() -> Result<std::string> {
        if (inline_value) return *inline_value;
        if (i + 1 >= words.size()) {
          return Usage("the flag --" + name + " needs a value", Where(command, group));
        }
        return words[++i];
      };
      if (name == "server" || name == "ca" || name == "output") {
        auto value = take_value();
        if (!value) return value.error();
        if (value->empty()) {
          return Usage("the flag --" + name + " needs a value", Where(command, group));
        }
        if (name == "server") {
          inv.globals.server = *value;
        } else if (name == "ca") {
          inv.globals.ca = *value;
        } else if (*value == "json" || *value == "table") {
          inv.globals.output = *value == "json" ? Format::kJson : Format::kTable;
        } else {
          return Usage("--output takes json or table, not \"" + *value + "\"", Where(command, group));
        }
        continue;
      }
      const FlagSpec* spec = command ? FindFlag(*command, name) : nullptr;
      if (!spec) {
        std::string what = "unknown flag --" + name;
        std::vector<std::string_view> flags;
        for (const GlobalFlag& g : kGlobalFlags) flags.push_back(g.name);
        if (command) {
          what += " for " + command->FullName();
          for (const FlagSpec& f : command->flags) flags.push_back(f.name);
        }
        return UsageWithGuess(what, Nearest(name, flags), "--", Where(command, group));
      }
      std::vector<std::string>& values = inv.flags[name];
      if (spec->kind == FlagSpec::kBool) {
        std::string value = inline_value.value_or("true");
        if (value != "true" && value != "false") {
          return Usage("--" + name + " takes true or false, not \"" + value + "\"",
                       command->FullName());
        }
        values.push_back(value);
        continue;
      }
      auto value = take_value();
      if (!value) return value.error();
      if (spec->kind == FlagSpec::kValue && !values.empty()) {
        return Usage("--" + name + " was given twice", command->FullName());
      }
      values.push_back(*value);
      continue;
    }
    if (command) {
      inv.args.push_back(word);
    } else if (group.empty()) {
      if (IsGroup(table, word)) {
        group = word;
      } else if ((command = FindCommand(table, "", word)) == nullptr) {
        return UsageWithGuess("unknown command \"" + word + "\"", Nearest(word, TopWords(table)),
                              "", "keepctl");
      }
    } else if ((command = FindCommand(table, group, word)) == nullptr) {
      return UsageWithGuess("unknown command \"" + word + "\" for keepctl " + group +
                                " (it has " + JoinNames(table, group) + ")",
                            Nearest(word, CommandsOf(table, group)), "", "keepctl " + group);
    }
  }

  if (version && !help) {
    Parsed p;
    p.version = true;
    p.output = inv.globals.output;
    return p;
  }
  if (help) {
    if (command) return Parsed{std::nullopt, CommandHelp(*command)};
    if (!group.empty()) return Parsed{std::nullopt, GroupHelp(table, group)};
    return Parsed{std::nullopt, TopHelp(table)};
  }
  if (!command && group.empty()) return Usage("no command given");
  if (!command) {
    return Usage("keepctl " + group + " needs a command: " + JoinNames(table, group),
                 "keepctl " + group);
  }
  const std::string usage = "usage: keepctl " + Synopsis(*command, Flags::kRequired);
  if (static_cast<int>(inv.args.size()) < command->min_args) {
    return Usage("missing arguments; " + usage, command->FullName());
  }
  if (static_cast<int>(inv.args.size()) > command->max_args) {
    return Usage("unexpected argument \"" + inv.args[command->max_args] + "\"; " + usage,
                 command->FullName());
  }
  for (const FlagSpec& f : command->flags) {
    if (f.required && !inv.Has(f.name)) {
      return Usage("the flag --" + std::string(f.name) + " is required; " + usage,
                   command->FullName());
    }
  }
  inv.command = command;
  return Parsed{std::move(inv), {}};
}

std::span<const GlobalFlag> GlobalFlags() { return kGlobalFlags; }

std::string SynopsisOf(const CommandSpec& command) { return Synopsis(command, Flags::kAll); }

std::string_view HelpIntro() { return kIntro; }
std::string_view HelpNotes() { return kNotes; }

std::string TopHelp(std::span<const CommandSpec> table) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const CommandSpec& c : table) {
    rows.emplace_back(Synopsis(c, Flags::kNone), std::string(c.summary));
  }
  return "keepctl: " + std::string(kIntro) +
         "\n"
         "Usage: keepctl [GLOBAL FLAGS] COMMAND [ARGUMENTS] [FLAGS]\n"
         "\n"
         "Commands:\n" +
         Columns(rows) + "\n" + GlobalFlagsHelp() + "\n" + std::string(kNotes);
}

std::string GroupHelp(std::span<const CommandSpec> table, std::string_view group) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const CommandSpec& c : table) {
    if (c.group == group) rows.emplace_back(Synopsis(c, Flags::kNone), std::string(c.summary));
  }
  std::string g(group);
  return "Usage: keepctl " + g + " COMMAND [ARGUMENTS] [FLAGS]\n\nCommands:\n" + Columns(rows) +
         "\n" + GlobalFlagsHelp() + "\nRun `keepctl " + g +
         " COMMAND --help` for the flags of a command.\n";
}

std::string CommandHelp(const CommandSpec& command) {
  std::string out = "Usage: keepctl " + Synopsis(command, Flags::kAll) + "\n\n" +
                    std::string(command.summary) + "\n";
  if (!command.details.empty()) out += "\n" + std::string(command.details);
  if (!command.flags.empty()) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const FlagSpec& f : command.flags) {
      std::string left = "--" + std::string(f.name);
      left += (f.kind == FlagSpec::kBool ? "" : " ") + std::string(f.value_name);
      rows.emplace_back(left, std::string(f.help));
    }
    out += "\nFlags:\n" + Columns(rows);
  }
  return out + "\n" + GlobalFlagsHelp();
}

}  // namespace keep::cli
