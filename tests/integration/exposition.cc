#include "tests/integration/exposition.h"

#include <cmath>
#include <cstdlib>
#include <regex>
#include <set>
#include <string_view>

namespace keep::testkit {
namespace {

const std::regex kMetricName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
const std::regex kFloat(R"([-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)");
const std::regex kTimestamp("-?[0-9]+");

// The value token of a sample line.
std::optional<double> ParseValue(const std::string& token) {
  if (token == "NaN") return std::nan("");
  if (token == "+Inf" || token == "Inf") return INFINITY;
  if (token == "-Inf") return -INFINITY;
  if (!std::regex_match(token, kFloat)) return std::nullopt;
  return std::strtod(token.c_str(), nullptr);
}

// The family a sample belongs to: a histogram's or summary's series carry
// suffixes after its name.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string_view n(name), s(suffix);
    if (n.size() > s.size() && n.substr(n.size() - s.size()) == s) {
      std::string base(n.substr(0, n.size() - s.size()));
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) {
        if (s != "_bucket" || it->second == "histogram") return base;
      }
    }
  }
  return name;
}

}  // namespace

::testing::AssertionResult Parse(const std::string& text, Exposition& out) {
  auto fail = [](std::size_t line, const std::string& why, const std::string& content) {
    return ::testing::AssertionFailure() << "line " << line << ": " << why << ": " << content;
  };
  if (text.empty() || text.back() != '\n') {
    return ::testing::AssertionFailure() << "the text must end with a line feed";
  }
  std::set<std::string> helped, finished, seen_series;
  std::string current;  // the family whose samples come now
  std::size_t number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::smatch m;
      static const std::regex kHelp(R"(# HELP ([^ ]+) (.*))");
      static const std::regex kType(R"(# TYPE ([^ ]+) (counter|gauge|histogram|summary|untyped))");
      if (line.rfind("# HELP ", 0) == 0) {
        if (!std::regex_match(line, m, kHelp)) return fail(number, "malformed HELP", line);
        std::string name = m[1];
        if (!std::regex_match(name, kMetricName)) return fail(number, "bad metric name", line);
        if (!helped.insert(name).second) return fail(number, "second HELP", line);
        if (finished.count(name) || current == name)
          return fail(number, "HELP after samples", line);
        const std::string doc = m[2];
        for (std::size_t i = 0; i < doc.size(); ++i) {
          if (doc[i] != '\\') continue;
          if (i + 1 >= doc.size() || (doc[i + 1] != '\\' && doc[i + 1] != 'n')) {
            return fail(number, "bad escape in HELP", line);
          }
          ++i;
        }
      } else if (line.rfind("# TYPE ", 0) == 0) {
        if (!std::regex_match(line, m, kType)) return fail(number, "malformed TYPE", line);
        std::string name = m[1];
        if (!std::regex_match(name, kMetricName)) return fail(number, "bad metric name", line);
        if (out.types.count(name)) return fail(number, "second TYPE", line);
        if (finished.count(name) || current == name)
          return fail(number, "TYPE after samples", line);
        out.types[name] = m[2];
      }
      continue;  // any other '#' line is a comment
    }
    // name [{labels}] value [timestamp]
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ' && line[i] != '\t') ++i;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, kMetricName)) return fail(number, "bad metric name", line);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) return fail(number, "label without '='", line);
        std::string label = line.substr(i, eq - i);
        if (!std::regex_match(label, kLabelName) || label.rfind("__", 0) == 0) {
          return fail(number, "bad label name", line);
        }
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') return fail(number, "unquoted label value", line);
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) return fail(number, "escape at the end", line);
            char e = line[i++];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              return fail(number, "bad escape in a label value", line);
          } else {
            value += c;
          }
        }
        if (!closed) return fail(number, "label value not closed", line);
        if (!s.labels.emplace(label, value).second) return fail(number, "label given twice", line);
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          return fail(number, "expected ',' or '}'", line);
        }
      }
    }
    // Blanks (at least one) then the value, and an optional timestamp.
    std::vector<std::string> tokens;
    std::string token;
    if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) {
      return fail(number, "no blank before the value", line);
    }
    for (; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == ' ' || line[i] == '\t') {
        if (!token.empty()) tokens.push_back(token);
        token.clear();
      } else {
        token += line[i];
      }
    }
    if (tokens.empty() || tokens.size() > 2)
      return fail(number, "expected value [timestamp]", line);
    auto value = ParseValue(tokens[0]);
    if (!value) return fail(number, "bad value", line);
    if (tokens.size() == 2 && !std::regex_match(tokens[1], kTimestamp)) {
      return fail(number, "bad timestamp", line);
    }
    s.value = *value;
    std::string family = FamilyOf(s.name, out.types);
    if (!out.types.count(family)) return fail(number, "a sample before its family's TYPE", line);
    if (!helped.count(family)) return fail(number, "a sample before its family's HELP", line);
    if (family != current) {
      if (finished.count(family)) return fail(number, "a family's samples are split", line);
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "\x1f" + k + "=" + v;
    if (!seen_series.insert(key).second) return fail(number, "a series given twice", line);
    out.samples.push_back(std::move(s));
  }

  // Histograms: per label set (le aside), the buckets in order.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") continue;
    std::map<Labels, std::vector<std::pair<double, double>>> buckets;
    std::map<Labels, double> counts;
    std::set<Labels> sums;
    for (const Sample& s : out.samples) {
      Labels rest = s.labels;
      if (s.name == family + "_bucket") {
        auto le = rest.find("le");
        if (le == rest.end())
          return ::testing::AssertionFailure() << family << ": bucket without le";
        auto bound = ParseValue(le->second);
        if (!bound) return ::testing::AssertionFailure() << family << ": bad le " << le->second;
        rest.erase(le);
        buckets[rest].emplace_back(*bound, s.value);
      } else if (s.name == family + "_count") {
        counts[rest] = s.value;
      } else if (s.name == family + "_sum") {
        sums.insert(rest);
      } else if (s.name == family) {
        return ::testing::AssertionFailure() << family << ": a histogram has no plain samples";
      }
    }
    for (const auto& [labels, list] : buckets) {
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first)) {
          return ::testing::AssertionFailure() << family << ": le not increasing";
        }
        if (list[k].second < list[k - 1].second) {
          return ::testing::AssertionFailure() << family << ": buckets not cumulative";
        }
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        return ::testing::AssertionFailure() << family << ": no +Inf bucket";
      }
      if (!counts.count(labels) || counts[labels] != list.back().second) {
        return ::testing::AssertionFailure() << family << ": _count is not the +Inf bucket";
      }
      if (!sums.count(labels)) return ::testing::AssertionFailure() << family << ": no _sum";
    }
    if (counts.size() != buckets.size()) {
      return ::testing::AssertionFailure() << family << ": a _count without buckets";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace keep::testkit
