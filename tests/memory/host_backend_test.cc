#include "memory/host_backend.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::ResidentPages;

TEST(HostBackendTest, AlignsAndCountsItsCalls) {
  HostBackend backend;
  EXPECT_STREQ(backend.name(), "host");
  EXPECT_EQ(backend.alignment(), 64u);
  absl::StatusOr<void*> a = backend.Allocate(100);  // rounded up to a page
  absl::StatusOr<void*> b = backend.Allocate(2 << 20);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*b) % 64, 0u);
  std::memset(*a, 0xab, 100);
  EXPECT_EQ(backend.allocations(), 2);
  EXPECT_EQ(backend.bytes_in_use(), sysconf(_SC_PAGESIZE) + (2 << 20));
  backend.Free(*a, 100);
  backend.Free(*b, 2 << 20);
  EXPECT_EQ(backend.frees(), 2);
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(HostBackendTest, GrowsSegmentsInPlaceWithinTheirReservation) {
  HostBackend backend;
  absl::StatusOr<void*> p = backend.Allocate(2 << 20);
  ASSERT_TRUE(p.ok());
  char* bytes = static_cast<char*>(*p);
  std::memset(bytes, 0x5a, 2 << 20);
  ASSERT_TRUE(backend.GrowInPlace(*p, 2 << 20, 6 << 20));
  EXPECT_EQ(backend.bytes_in_use(), 6 << 20);
  std::memset(bytes + (2 << 20), 0x33, 4 << 20);  // the new pages are usable
  EXPECT_EQ(bytes[0], 0x5a);                      // and the old contents stayed
  EXPECT_EQ(bytes[(2 << 20) - 1], 0x5a);
  EXPECT_FALSE(backend.GrowInPlace(*p, 6 << 20, size_t{2} << 30));  // past the 1 GiB reservation
  int other = 0;
  EXPECT_FALSE(backend.GrowInPlace(&other, 4, 8));  // not a segment of this backend
  backend.Free(*p, 6 << 20);
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(HostBackendTest, DecommitReturnsPagesAndCommitMakesThemUsableAgain) {
  HostBackend backend;
  const size_t page = backend.decommit_granularity();
  ASSERT_EQ(page, static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  absl::StatusOr<void*> p = backend.Allocate(64 * page);
  ASSERT_TRUE(p.ok());
  char* bytes = static_cast<char*>(*p);
  std::memset(bytes, 0x5a, 64 * page);
  EXPECT_EQ(ResidentPages(bytes, 64 * page), 64u);

  ASSERT_TRUE(backend.Decommit(bytes + 8 * page, 16 * page));
  EXPECT_EQ(ResidentPages(bytes + 8 * page, 16 * page), 0u);  // the memory went back at once
  EXPECT_EQ(backend.bytes_in_use(), static_cast<int64_t>(48 * page));
  EXPECT_EQ(bytes[8 * page - 1], 0x5a);  // the neighbours kept their contents
  EXPECT_EQ(bytes[24 * page], 0x5a);

  ASSERT_TRUE(backend.Commit(bytes + 8 * page, 16 * page));
  EXPECT_EQ(backend.bytes_in_use(), static_cast<int64_t>(64 * page));
  std::memset(bytes + 8 * page, 0x33, 16 * page);  // writable again
  EXPECT_EQ(bytes[8 * page], 0x33);

  EXPECT_FALSE(backend.Decommit(bytes + 1, page));              // not page-aligned
  EXPECT_FALSE(backend.Decommit(bytes + 60 * page, 8 * page));  // past the segment's end
  int other = 0;
  EXPECT_FALSE(backend.Decommit(&other, page));  // not this backend's memory
  EXPECT_FALSE(backend.Commit(bytes, page));     // the segment has nothing decommitted now
  ASSERT_TRUE(backend.Decommit(bytes, 4 * page));
  backend.Free(*p, 64 * page);  // a segment freed with decommitted pages balances the count
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(HostBackendTest, HonoursLargerAlignments) {
  for (const size_t alignment : {size_t{4096}, size_t{1} << 16}) {
    HostBackend backend(alignment);
    absl::StatusOr<void*> p = backend.Allocate(1);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(*p) % alignment, 0u);
    static_cast<char*>(*p)[0] = 1;
    backend.Free(*p, 1);
  }
}

TEST(HostBackendTest, RejectsZeroBytesAndBadAlignment) {
  HostBackend backend;
  EXPECT_EQ(backend.Allocate(0).status().code(), absl::StatusCode::kInvalidArgument);
  HostBackend odd(48);
  EXPECT_EQ(odd.Allocate(64).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend.failures() + odd.failures(), 2);
}

TEST(HostBackendTest, EventsCompleteAtOnce) {
  HostBackend backend;
  const EventId e = backend.RecordEvent(7);
  EXPECT_TRUE(backend.EventCompleted(e));
  backend.ReleaseEvent(e);
}

}  // namespace
}  // namespace seqserve::memory
