#include "memory/size_classes.h"

#include <gtest/gtest.h>

#include <limits>

namespace seqserve::memory {
namespace {

constexpr size_t kUnlimited = std::numeric_limits<size_t>::max();

TEST(SizeClassesTest, RoundsRequestsUpTo512Bytes) {
  EXPECT_EQ(RoundRequest(1), 512u);
  EXPECT_EQ(RoundRequest(512), 512u);
  EXPECT_EQ(RoundRequest(513), 1024u);
  EXPECT_EQ(RoundRequest(800), RoundRequest(808));  // Note [512-byte rounding]: same block
  EXPECT_EQ(RoundRequest(kMaxRequestSize), kMaxRequestSize);
}

TEST(SizeClassesTest, OneMebibyteIsTheLastSmallRequest) {
  EXPECT_TRUE(IsSmallRequest(RoundRequest(kMiB)));
  EXPECT_FALSE(IsSmallRequest(RoundRequest(kMiB + 1)));
}

TEST(SizeClassesTest, SegmentSizes) {
  EXPECT_EQ(SegmentSizeFor(512), 2 * kMiB);
  EXPECT_EQ(SegmentSizeFor(kMiB), 2 * kMiB);
  EXPECT_EQ(SegmentSizeFor(kMiB + 512), 20 * kMiB);
  EXPECT_EQ(SegmentSizeFor(20 * kMiB), 20 * kMiB);
  EXPECT_EQ(SegmentSizeFor(20 * kMiB + 512), 22 * kMiB);
  EXPECT_EQ(SegmentSizeFor(100 * kMiB + 512), 102 * kMiB);
  EXPECT_EQ(MinSegmentSizeFor(512), 2 * kMiB);
  EXPECT_EQ(MinSegmentSizeFor(3 * kMiB + 512), 4 * kMiB);
}

TEST(SizeClassesTest, SplitThresholds) {
  // Small pool: any remainder of at least 512 B.
  EXPECT_TRUE(ShouldSplit(1024, 512, /*small_pool=*/true, kUnlimited));
  EXPECT_FALSE(ShouldSplit(512, 512, true, kUnlimited));
  // Large pool: only a remainder above 1 MiB.
  EXPECT_FALSE(ShouldSplit(20 * kMiB, 19 * kMiB, false, kUnlimited));
  EXPECT_TRUE(ShouldSplit(20 * kMiB, 19 * kMiB - 512, false, kUnlimited));
  // Oversize blocks never.
  EXPECT_FALSE(ShouldSplit(64 * kMiB, 2 * kMiB, false, 40 * kMiB));
}

}  // namespace
}  // namespace seqserve::memory
