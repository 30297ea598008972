// cli/output.h — how keepctl prints what the server answered.
//
// In table mode a list is a header row and aligned columns, one object is
// `key: value` lines; times (unix seconds on the wire) print as UTC
// ISO-8601. In JSON mode the server's answer is printed as it came, indented.
// Thread-compatible: writes to the stream given.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace keep::cli {

// One column of a table or one line of an object: its title and how to
// print the cell from the row object.
struct Column {
  std::string_view title;
  std::function<std::string(const nlohmann::json& row)> cell;
};

// object[key], or null when object is not an object or has no such key.
const nlohmann::json& At(const nlohmann::json& object, const std::string& key);

// A column that prints row[key] as Text() does, and one that prints it as a time.
Column Field(std::string_view title, std::string key);
Column TimeField(std::string_view title, std::string key);

// A string as it is, a number in digits, true/false, null or absent as "-",
// anything else as compact JSON.
std::string Text(const nlohmann::json& value);
// Unix seconds as "2024-05-01T12:00:00Z"; "-" when absent or not a number.
std::string IsoTime(const nlohmann::json& seconds);
// A size in bytes as "512 B", "12.3 MiB" (binary units, up to TiB).
std::string HumanBytes(double bytes);

void PrintTable(std::ostream& out, const nlohmann::json& rows, std::span<const Column> columns,
                std::string_view indent = "");
void PrintObject(std::ostream& out, const nlohmann::json& object,
                 std::span<const Column> lines);
void PrintJson(std::ostream& out, const nlohmann::json& value);

}  // namespace keep::cli
