#include "memory/host_backend.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace seqserve::memory {
namespace {

TEST(HostBackendTest, AlignsAndCountsItsCalls) {
  HostBackend backend;
  EXPECT_STREQ(backend.name(), "host");
  EXPECT_EQ(backend.alignment(), 64u);
  absl::StatusOr<void*> a = backend.Allocate(100);  // rounded up to 128
  absl::StatusOr<void*> b = backend.Allocate(2 << 20);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*b) % 64, 0u);
  std::memset(*a, 0xab, 100);
  EXPECT_EQ(backend.allocations(), 2);
  EXPECT_EQ(backend.bytes_in_use(), 128 + (2 << 20));
  backend.Free(*a, 100);
  backend.Free(*b, 2 << 20);
  EXPECT_EQ(backend.frees(), 2);
  EXPECT_EQ(backend.bytes_in_use(), 0);
}

TEST(HostBackendTest, HonoursLargerAlignments) {
  HostBackend backend(4096);
  absl::StatusOr<void*> p = backend.Allocate(1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(*p) % 4096, 0u);
  backend.Free(*p, 1);
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
