// Helpers shared by the memory tests.
#ifndef SEQSERVE_TESTS_MEMORY_POOL_TEST_UTIL_H_
#define SEQSERVE_TESTS_MEMORY_POOL_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "memory/caching_allocator.h"

// Fails the test (fatally) when the pool's invariants do not hold.
#define ASSERT_POOL_CONSISTENT(pool)                              \
  do {                                                            \
    const ::absl::Status pool_status_ = (pool).CheckInvariants(); \
    ASSERT_TRUE(pool_status_.ok()) << pool_status_;               \
  } while (0)

namespace seqserve::memory::testing {

inline std::unique_ptr<CachingAllocator> MakePool(Backend* backend, CachingAllocator::Options options = {}) {
  absl::StatusOr<std::unique_ptr<CachingAllocator>> pool = CachingAllocator::Create(backend, options);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return pool.ok() ? std::move(*pool) : nullptr;
}

// Allocate that must succeed; returns the pointer as char* for address arithmetic.
inline char* MustAllocate(CachingAllocator& pool, size_t bytes, StreamId stream = kDefaultStream) {
  absl::StatusOr<void*> p = pool.Allocate(bytes, stream);
  EXPECT_TRUE(p.ok()) << "Allocate(" << bytes << ", " << stream << "): " << p.status();
  return p.ok() ? static_cast<char*>(*p) : nullptr;
}

inline void MustFree(CachingAllocator& pool, void* p) {
  const absl::Status status = pool.Free(p);
  EXPECT_TRUE(status.ok()) << status;
}

// Pages of [p, p + bytes) (page-aligned) resident in memory, by mincore.
inline size_t ResidentPages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(bytes / page);
  EXPECT_EQ(mincore(const_cast<void*>(p), bytes, vec.data()), 0);
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

}  // namespace seqserve::memory::testing

#endif  // SEQSERVE_TESTS_MEMORY_POOL_TEST_UTIL_H_
