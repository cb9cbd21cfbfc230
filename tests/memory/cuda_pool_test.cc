// The pool over real device memory: cudaMalloc segments, stream ownership with CUDA events, and
// the budget. Every test skips cleanly on machines without a CUDA device.
#include <cuda_runtime_api.h>

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "memory/caching_allocator.h"
#include "memory/cuda_backend.h"

namespace seqserve::memory {
namespace {

class CudaPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (CudaBackend::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(CudaPoolTest, AllocatesDeviceMemoryAndReusesIt) {
  CudaBackend backend(0);
  auto pool = CachingAllocator::Create(&backend);
  ASSERT_TRUE(pool.ok());
  absl::StatusOr<void*> a = (*pool)->Allocate(3 << 20);
  ASSERT_TRUE(a.ok()) << a.status();
  cudaPointerAttributes attributes;
  ASSERT_EQ(cudaPointerGetAttributes(&attributes, *a), cudaSuccess);
  EXPECT_EQ(attributes.type, cudaMemoryTypeDevice);
  ASSERT_EQ(cudaMemset(*a, 0, 3 << 20), cudaSuccess);
  ASSERT_TRUE((*pool)->Free(*a).ok());
  absl::StatusOr<void*> b = (*pool)->Allocate(3 << 20);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*pool)->stats().backend_allocations, 1u);
  ASSERT_TRUE((*pool)->Free(*b).ok());
  EXPECT_TRUE((*pool)->CheckInvariants().ok());
}

TEST_F(CudaPoolTest, BlockUsedOnAnotherStreamWaitsForItsEvent) {
  CudaBackend backend(0);
  auto pool = CachingAllocator::Create(&backend);
  ASSERT_TRUE(pool.ok());
  cudaStream_t other;
  ASSERT_EQ(cudaStreamCreate(&other), cudaSuccess);
  constexpr size_t kBytes = 64 << 20;
  absl::StatusOr<void*> block = (*pool)->Allocate(kBytes);
  ASSERT_TRUE(block.ok());
  // Keep `other` busy with the block, then free it from the owner's side.
  for (int i = 0; i < 50; ++i) ASSERT_EQ(cudaMemsetAsync(*block, i, kBytes, other), cudaSuccess);
  ASSERT_TRUE((*pool)->RecordStream(*block, reinterpret_cast<StreamId>(other)).ok());
  ASSERT_TRUE((*pool)->Free(*block).ok());
  EXPECT_GT((*pool)->stats().pending_free_blocks + (*pool)->stats().free_blocks, 0u);
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  // Once the other stream is done, the same block serves the next request on the owner stream.
  absl::StatusOr<void*> again = (*pool)->Allocate(kBytes);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *block);
  ASSERT_TRUE((*pool)->Free(*again).ok());
  EXPECT_TRUE((*pool)->CheckInvariants().ok());
  cudaStreamDestroy(other);
}

TEST_F(CudaPoolTest, BudgetFailsCleanlyAndThePoolStaysUsable) {
  CudaBackend backend(0);
  CachingAllocatorOptions options;
  options.capacity_bytes = 64 << 20;
  auto pool = CachingAllocator::Create(&backend, options);
  ASSERT_TRUE(pool.ok());
  absl::StatusOr<void*> too_big = (*pool)->Allocate(128 << 20);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  absl::StatusOr<void*> fits = (*pool)->Allocate(32 << 20);
  ASSERT_TRUE(fits.ok());
  ASSERT_TRUE((*pool)->Free(*fits).ok());
  EXPECT_EQ((*pool)->stats().oom_count, 1u);
  EXPECT_GT((*pool)->EmptyCache(), 0u);
}

TEST_F(CudaPoolTest, ConcurrentThreadsOnTheirOwnStreams) {
  CudaBackend backend(0);
  auto pool = CachingAllocator::Create(&backend);
  ASSERT_TRUE(pool.ok());
  // The streams outlive the threads: the pool may hand a stream's idle segment to another
  // stream (Note [adopting idle segments]), recording an event on the first one, so a stream
  // must stay valid while the pool holds memory of it.
  std::vector<cudaStream_t> streams(4);
  for (cudaStream_t& s : streams) ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, stream = streams[t]] {
      for (int i = 0; i < 2000; ++i) {
        const size_t bytes = static_cast<size_t>(512) << (i % 14);
        absl::StatusOr<void*> p = (*pool)->Allocate(bytes, reinterpret_cast<StreamId>(stream));
        if (!p.ok()) continue;
        cudaMemsetAsync(*p, 0, bytes, stream);
        (void)(*pool)->Free(*p);
      }
      cudaStreamSynchronize(stream);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE((*pool)->CheckInvariants().ok());
  EXPECT_EQ((*pool)->stats().allocated_bytes, 0u);
  (*pool)->EmptyCache();
  for (cudaStream_t s : streams) cudaStreamDestroy(s);
}

TEST(CudaBackendTest, DeviceCountNeverFails) {
  EXPECT_GE(CudaBackend::DeviceCount(), 0);  // 0 here, on the GPU-less CI machines
}

}  // namespace
}  // namespace seqserve::memory
