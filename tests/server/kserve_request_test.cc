#include "server/api/kserve_request.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace seqserve {
namespace {

// One meaning, one wording, for both transports (server/api/kserve_request.h).
TEST(KServeRequestTest, VersionDatatypeAndTimeoutMeanTheSameOnBothTransports) {
  EXPECT_EQ(ParseKServeVersion("").value(), 0);
  EXPECT_EQ(ParseKServeVersion("3").value(), 3);
  for (const char* bad : {"0", "-1", "x", "1.5"}) {
    absl::StatusOr<int64_t> version = ParseKServeVersion(bad);
    ASSERT_FALSE(version.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(version.status()));
    EXPECT_NE(version.status().message().find("not a positive integer"), std::string::npos);
  }

  EXPECT_EQ(ParseKServeDataType("ids", "INT64").value(), DataType::kInt64);
  absl::StatusOr<DataType> bytes = ParseKServeDataType("text", "BYTES");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().message(),
            "input 'text': datatype 'BYTES' is not supported (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, BF16, "
            "FP32, FP64)");

  InferenceRequest request;
  EXPECT_TRUE(ApplyKServeTimeout(true, 0, request).ok());
  EXPECT_EQ(request.deadline, absl::InfiniteFuture());  // 0: no deadline of its own
  const absl::Time before = absl::Now();
  EXPECT_TRUE(ApplyKServeTimeout(true, 5'000'000, request).ok());
  EXPECT_GE(request.deadline, before + absl::Seconds(5));
  EXPECT_LE(request.deadline, absl::Now() + absl::Seconds(5));
  EXPECT_TRUE(absl::IsInvalidArgument(ApplyKServeTimeout(true, -1, request)));
  EXPECT_TRUE(absl::IsInvalidArgument(ApplyKServeTimeout(false, 0, request)));
}

}  // namespace
}  // namespace seqserve
