// The SQL storage/ writes once for both engines, as the PostgreSQL engine
// sends it (storage/postgres.h ToPostgres): numbered parameters, the
// functions the two spell differently, and quoted text left alone.
#include "storage/postgres.h"

#include <gtest/gtest.h>

namespace keep::postgres {
namespace {

TEST(SqlDialect, NumberedParametersBecomeDollarParameters) {
  int params = 0;
  EXPECT_EQ(ToPostgres("SELECT 1 FROM t WHERE a=?1 AND b=?2 OR c=?1", params),
            "SELECT 1 FROM t WHERE a=$1 AND b=$2 OR c=$1");
  EXPECT_EQ(params, 2);
  EXPECT_EQ(ToPostgres("UPDATE t SET a=?12", params), "UPDATE t SET a=$12");
  EXPECT_EQ(params, 12);
  // A bare ? is the next number, as SQLite counts it.
  EXPECT_EQ(ToPostgres("INSERT INTO t VALUES(?, ?)", params), "INSERT INTO t VALUES($1, $2)");
  EXPECT_EQ(params, 2);
  EXPECT_EQ(ToPostgres("SELECT 1", params), "SELECT 1");
  EXPECT_EQ(params, 0);
}

TEST(SqlDialect, FunctionsSpelledOtherwiseAreRenamedOnlyAsCalls) {
  int params = 0;
  EXPECT_EQ(ToPostgres("SELECT group_concat(t.name, ' ') FROM tags t", params),
            "SELECT string_agg(t.name, ' ') FROM tags t");
  EXPECT_EQ(ToPostgres("SELECT INSTR(name||'/', '/') FROM r", params),
            "SELECT strpos(name||'/', '/') FROM r");
  // A column of that name, or a longer word, is not a call.
  EXPECT_EQ(ToPostgres("SELECT instr, instrument(x), my_instr(y) FROM r", params),
            "SELECT instr, instrument(x), my_instr(y) FROM r");
}

TEST(SqlDialect, QuotedTextIsLeftAlone) {
  int params = 0;
  EXPECT_EQ(ToPostgres("SELECT 'a?1 instr(' || \"?2\" FROM t WHERE x=?1", params),
            "SELECT 'a?1 instr(' || \"?2\" FROM t WHERE x=$1");
  EXPECT_EQ(params, 1);
  EXPECT_EQ(ToPostgres("SELECT 'it''s ?1' WHERE y=?3", params), "SELECT 'it''s ?1' WHERE y=$3");
  EXPECT_EQ(params, 3);
}

}  // namespace
}  // namespace keep::postgres
