// What a client may read of an error: the message, unless it is the
// operator's alone (a path of the server, a system error); then a reference,
// and the message goes to stderr (keepd's log) under the same reference.
#include "core/error.h"

#include <gtest/gtest.h>

#include <string>

namespace keep {
namespace {

TEST(ErrorTest, AClientReadsAnOrdinaryMessageAsItIs) {
  Error e = Fail(ErrorCode::kManifestInvalid, "manifest.layers[0].digest: not a digest");
  EXPECT_EQ(ClientText(e), e.message);
}

TEST(ErrorTest, AnOperatorFaultReachesTheClientOnlyAsAReference) {
  Error e = OperatorFault(ErrorCode::kInternal, "open /srv/keep/blobs/ab/cd: Input/output error");
  testing::internal::CaptureStderr();
  const std::string shown = ClientText(e);
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(shown.find("/srv/keep"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("Input/output"), std::string::npos) << shown;
  const auto at = shown.find("reference ");
  ASSERT_NE(at, std::string::npos) << shown;
  const std::string reference = shown.substr(at + 10, 12);
  EXPECT_NE(log.find("fault reference " + reference + ": " + e.message), std::string::npos) << log;
  // Each fault gets its own reference.
  testing::internal::CaptureStderr();
  EXPECT_NE(ClientText(e), shown);
  testing::internal::GetCapturedStderr();
}

}  // namespace
}  // namespace keep
