// core/metrics.h: the families it renders are the ones it lists, and the
// shipped Grafana dashboard queries only those (a renamed metric fails here).
#include "core/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace keep {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every "expr" string anywhere in the dashboard.
void Exprs(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "expr" && v.is_string()) out.push_back(v.get<std::string>());
      Exprs(v, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) Exprs(v, out);
  }
}

// The metric names a PromQL expression uses: identifiers that start with
// keep_, with a histogram's series suffix taken off.
std::set<std::string> NamesIn(const std::string& expr, const std::set<std::string>& families) {
  static const std::regex kName("keep_[a-zA-Z0-9_:]*");
  std::set<std::string> names;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it) {
    std::string name = it->str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      std::string s(suffix);
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
          families.count(name.substr(0, name.size() - s.size()))) {
        name.resize(name.size() - s.size());
      }
    }
    names.insert(name);
  }
  return names;
}

std::set<std::string> Families() {
  std::set<std::string> out;
  for (auto name : metrics::FamilyNames()) out.insert(std::string(name));
  return out;
}

TEST(MetricsTest, RendersEveryFamilyItListsAndNoOther) {
  metrics::CountRequest(metrics::Route::kBlob, metrics::Method::kGet, 200, 0, 10, 0.01);
  const std::string text = metrics::Render();
  std::set<std::string> typed;
  static const std::regex kType("# TYPE ([a-z_]+) ");
  for (std::sregex_iterator it(text.begin(), text.end(), kType), end; it != end; ++it) {
    typed.insert((*it)[1]);
  }
  EXPECT_EQ(typed, Families());
}

TEST(MetricsTest, CountsByFixedLabelsOnly) {
  std::uint64_t before =
      metrics::RequestCount(metrics::Route::kManifest, metrics::Method::kPut, 201);
  metrics::CountRequest(metrics::Route::kManifest, metrics::MethodOf("PUT"), 201, 5, 0, 0.2);
  EXPECT_EQ(metrics::RequestCount(metrics::Route::kManifest, metrics::Method::kPut, 201),
            before + 1);
  EXPECT_EQ(metrics::MethodOf("BREW"), metrics::Method::kOther);
  // A status keepd never sends counts as "other", not as a new series per code.
  metrics::CountRequest(metrics::Route::kOther, metrics::Method::kGet, 418, 0, 0, 0);
  metrics::CountRequest(metrics::Route::kOther, metrics::Method::kGet, 599, 0, 0, 0);
  EXPECT_NE(metrics::Render().find(
                "keep_http_requests_total{route=\"other\",method=\"GET\",code=\"other\"} 2\n"),
            std::string::npos);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  metrics::SetProcessInfo(1, "1.0 \"quoted\" back\\slash\nline", "abc");
  EXPECT_NE(metrics::Render().find(
                R"(keep_build_info{version="1.0 \"quoted\" back\\slash\nline",commit="abc"} 1)"),
            std::string::npos);
}

TEST(MetricsTest, TheDashboardQueriesOnlyWhatKeepdExposes) {
  const std::string path = std::string(KEEP_SOURCE_DIR) + "/deploy/grafana-dashboard.json";
  auto dashboard = nlohmann::json::parse(ReadFile(path), nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << path << " is not valid JSON";
  ASSERT_TRUE(dashboard.contains("panels") && dashboard["panels"].is_array());
  EXPECT_GE(dashboard["panels"].size(), 5u);
  std::vector<std::string> exprs;
  Exprs(dashboard, exprs);
  ASSERT_GE(exprs.size(), 5u);
  const auto families = Families();
  std::set<std::string> used;
  for (const std::string& expr : exprs) {
    for (const std::string& name : NamesIn(expr, families)) {
      EXPECT_TRUE(families.count(name))
          << "the dashboard queries " << name << ", which keepd does not expose: " << expr;
      used.insert(name);
    }
  }
  // The panels the dashboard promises.
  for (const char* name : {"keep_http_requests_total", "keep_http_request_duration_seconds",
                           "keep_http_response_bytes_total", "keep_trust_decisions_total",
                           "keep_uploads_in_progress"}) {
    EXPECT_TRUE(used.count(name)) << name;
  }
  // The check itself catches a drifted name.
  EXPECT_FALSE(families.count(*NamesIn("rate(keep_http_request_total[5m])", families).begin()));
}

TEST(MetricsTest, ThePrometheusExampleScrapesOverHttpsWithTheCredentialFile) {
  const std::string yml = ReadFile(std::string(KEEP_SOURCE_DIR) + "/deploy/prometheus.yml");
  EXPECT_NE(yml.find("scheme: https"), std::string::npos);
  EXPECT_NE(yml.find("credentials_file:"), std::string::npos);
  EXPECT_NE(yml.find("metrics_path: /metrics"), std::string::npos);
}

}  // namespace
}  // namespace keep
