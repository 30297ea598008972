#include "core/log_text.h"

#include <gtest/gtest.h>

namespace keep {
namespace {

TEST(LogText, PlainNamesPassUnchanged) {
  EXPECT_EQ(LogText("alice"), "alice");
  EXPECT_EQ(LogText("robot+ci.build-1"), "robot+ci.build-1");
  EXPECT_EQ(LogText(""), "");
}

TEST(LogText, ControlBytesQuotesAndBackslashesAreEscaped) {
  EXPECT_EQ(LogText("eve\nkeepd: forged line"), "eve\\nkeepd: forged line");
  EXPECT_EQ(LogText("a\r\tb"), "a\\r\\tb");
  EXPECT_EQ(LogText("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(LogText("say \"hi\" \\o/"), "say \\\"hi\\\" \\\\o/");
  EXPECT_EQ(LogText(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(LogText("\x7f"), "\\x7f");
  // Not ASCII: every byte spelled out, so nothing reaches a terminal raw.
  EXPECT_EQ(LogText("\xc3\xa9t\xc3\xa9"), "\\xc3\\xa9t\\xc3\\xa9");
}

TEST(LogText, LongTextIsCutAndSaysHowLongItWas) {
  std::string long_name(1000, 'x');
  std::string shown = LogText(long_name, 64);
  EXPECT_EQ(shown, std::string(64, 'x') + "...(1000 bytes)");
  EXPECT_EQ(LogText(std::string(64, 'y'), 64), std::string(64, 'y'));
  // The bound holds even when every byte needs an escape.
  EXPECT_LE(LogText(std::string(1000, '\x01'), 64).size(), 64u * 4 + 20);
}

}  // namespace
}  // namespace keep
