// tests/integration/exposition.h — a strict reader of the Prometheus text
// exposition format (version 0.0.4), for the tests of GET /metrics: every
// line must follow the grammar, and a whole text what the format asks of
// families and histograms. Not thread-safe; plain values.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace keep::testkit {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::vector<Sample> samples;

  // The sample's value; nullopt when there is no such series.
  std::optional<double> Find(const std::string& name, const Labels& labels = {}) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return std::nullopt;
  }
  // A counter that has not counted yet may be absent: 0 then.
  double Count(const std::string& name, const Labels& labels = {}) const {
    return Find(name, labels).value_or(0);
  }
  std::size_t SeriesOf(const std::string& name) const {
    std::size_t n = 0;
    for (const Sample& s : samples) n += s.name == name;
    return n;
  }
};

// Parses the whole text strictly (the 0.0.4 grammar), and checks what the
// format requires beyond one line: one TYPE and HELP per family, both before
// its samples; a family's samples together; no series twice; a histogram's
// buckets cumulative, in increasing `le`, ending with +Inf, which equals _count.
::testing::AssertionResult Parse(const std::string& text, Exposition& out);

}  // namespace keep::testkit
