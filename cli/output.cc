#include "cli/output.h"

#include "core/clock.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <vector>

namespace keep::cli {

const nlohmann::json& At(const nlohmann::json& object, const std::string& key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

Column Field(std::string_view title, std::string key) {
  return Column{title, [key = std::move(key)](const nlohmann::json& row) {
                  return Text(At(row, key));
                }};
}

Column TimeField(std::string_view title, std::string key) {
  return Column{title, [key = std::move(key)](const nlohmann::json& row) {
                  return IsoTime(At(row, key));
                }};
}

std::string Text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "-";
  return value.dump();
}

std::string HumanBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

std::string IsoTime(const nlohmann::json& seconds) {
  if (!seconds.is_number()) return "-";
  return Rfc3339Utc(seconds.get<std::int64_t>());
}

void PrintTable(std::ostream& out, const nlohmann::json& rows, std::span<const Column> columns,
                std::string_view indent) {
  std::vector<std::vector<std::string>> cells;
  cells.emplace_back();
  for (const Column& c : columns) cells.back().emplace_back(c.title);
  if (rows.is_array()) {
    for (const auto& row : rows) {
      cells.emplace_back();
      for (const Column& c : columns) cells.back().push_back(c.cell(row));
    }
  }
  std::vector<std::size_t> width(columns.size(), 0);
  for (const auto& line : cells) {
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  for (const auto& line : cells) {
    std::string text(indent);
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    out << text << "\n";
  }
}

void PrintObject(std::ostream& out, const nlohmann::json& object,
                 std::span<const Column> lines) {
  for (const Column& c : lines) out << c.title << ": " << c.cell(object) << "\n";
}

void PrintJson(std::ostream& out, const nlohmann::json& value) { out << value.dump(2) << "\n"; }

}  // namespace keep::cli
