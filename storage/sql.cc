#include "storage/sql.h"

namespace keep::sql {

Error DbError(const DbFailure& e) {
  switch (e.fault) {
    case Fault::kFull:
      return Fail(ErrorCode::kInsufficientStorage,
                  "the registry's disk is full; ask its operator to free space, then retry");
    case Fault::kBusy:
      return Fail(ErrorCode::kInternal,
                  "the metadata database is held by another process (another keepd on the same "
                  "data directory?); stop it, or give this keepd a data directory of its own");
    case Fault::kUnwritable:
      return Fail(ErrorCode::kInternal,
                  std::string("the registry's metadata database cannot be written (") + e.what() +
                      "); ask its operator to check the files and permissions of its data "
                      "directory");
    case Fault::kUnreachable:
      return OperatorFault(ErrorCode::kUnavailable,
                           std::string("the metadata database cannot be reached: ") + e.what());
    case Fault::kConstraint:
    case Fault::kOther: break;
  }
  return OperatorFault(ErrorCode::kInternal, std::string("metadata database: ") + e.what());
}

void Transaction(Connection& c, const char* begin, const std::function<void(Connection&)>& fn) {
  c.Exec(begin);
  try {
    fn(c);
    c.Exec("COMMIT");
  } catch (...) {
    // On a full disk SQLite has rolled back already; the first error is the one to report.
    if (c.InTransaction()) c.Exec("ROLLBACK");
    throw;
  }
}

Result<void> Database::RunTransaction(Connection& c, const char* begin,
                                      const std::function<void(Connection&)>& fn) {
  try {
    Transaction(c, begin, fn);
  } catch (const DbFailure& e) {
    return DbError(e);
  } catch (const ErrorException& e) {
    return e.error;  // a refusal decided inside the transaction (e.g. kConflict)
  }
  return {};
}

}  // namespace keep::sql
