#include "memory/host_backend.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <unistd.h>

namespace seqserve::memory {
namespace {

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
