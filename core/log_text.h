// core/log_text.h — text from a client, made safe to put in a log line.
//
// A name or value a client sent may hold newlines (to forge a log line),
// terminal escape sequences (to rewrite what an admin's terminal shows),
// bytes that are not UTF-8, or simply be long. LogText bounds it and spells
// every byte that is not printable ASCII as an escape. Pure functions;
// thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace keep {

// `untrusted` as printable ASCII: at most `max_bytes` of its bytes, with '\\'
// and '"' escaped by a backslash, tab, CR and LF as \t \r \n, and any other
// byte outside 0x20..0x7e as \xNN; when it was longer, "...(N bytes)" follows.
// Put it between double quotes and it reads as one unambiguous token.
std::string LogText(std::string_view untrusted, std::size_t max_bytes = 64);

}  // namespace keep
