// The pool over real device memory: cudaMalloc segments, stream ownership with CUDA events, and
// the budget. Every test skips cleanly on machines without a CUDA device.
#include <cuda_runtime_api.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
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

// A host function that holds its stream until Release(): a stream that is busy for as long as
// the test says, however fast the GPU.
class StreamGate {
 public:
  void Hold(cudaStream_t stream) { ASSERT_EQ(cudaLaunchHostFunc(stream, &StreamGate::Wait, this), cudaSuccess); }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  static void CUDART_CB Wait(void* self) {
    auto* gate = static_cast<StreamGate*>(self);
    std::unique_lock<std::mutex> lock(gate->mu_);
    gate->cv_.wait(lock, [gate] { return gate->open_; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST_F(CudaPoolTest, BlockUsedOnAnotherStreamWaitsForItsEvent) {
  CudaBackend backend(0);
  auto pool = CachingAllocator::Create(&backend);
  ASSERT_TRUE(pool.ok());
  cudaStream_t other;
  ASSERT_EQ(cudaStreamCreate(&other), cudaSuccess);
  constexpr size_t kBytes = 64 << 20;
  absl::StatusOr<void*> block = (*pool)->Allocate(kBytes);
  ASSERT_TRUE(block.ok());
  // `other` uses the block and is held busy; the owner frees it meanwhile.
  StreamGate gate;
  gate.Hold(other);
  ASSERT_EQ(cudaMemsetAsync(*block, 1, kBytes, other), cudaSuccess);
  ASSERT_TRUE((*pool)->RecordStream(*block, reinterpret_cast<StreamId>(other)).ok());
  ASSERT_TRUE((*pool)->Free(*block).ok());
  // Held back: not reusable while `other` may still write it.
  EXPECT_EQ((*pool)->stats().pending_free_blocks, 1u);
  absl::StatusOr<void*> meanwhile = (*pool)->Allocate(kBytes);
  ASSERT_TRUE(meanwhile.ok());
  EXPECT_NE(*meanwhile, *block) << "a block another stream still uses was handed out";
  ASSERT_TRUE((*pool)->Free(*meanwhile).ok());
  // Once `other` is done, the block is free again and serves the owner stream.
  gate.Release();
  ASSERT_EQ(cudaStreamSynchronize(other), cudaSuccess);
  absl::StatusOr<void*> again = (*pool)->Allocate(kBytes);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*pool)->stats().pending_free_blocks, 0u);
  EXPECT_TRUE(*again == *block || *again == *meanwhile);
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
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, stream = streams[t]] {
      for (int i = 0; i < 2000; ++i) {
        const size_t bytes = static_cast<size_t>(512) << (i % 14);  // 512 B .. 4 MiB: always fits
        absl::StatusOr<void*> p = (*pool)->Allocate(bytes, reinterpret_cast<StreamId>(stream));
        if (!p.ok() || cudaMemsetAsync(*p, 0, bytes, stream) != cudaSuccess || !(*pool)->Free(*p).ok()) {
          failures.fetch_add(1);
        }
      }
      if (cudaStreamSynchronize(stream) != cudaSuccess) failures.fetch_add(1);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE((*pool)->CheckInvariants().ok());
  EXPECT_EQ((*pool)->stats().allocated_bytes, 0u);
  (*pool)->EmptyCache();
  for (cudaStream_t s : streams) cudaStreamDestroy(s);
}

// Asking never fails: the runtime's count, or 0 without a device or driver (the GPU-less CI
// machines). Where there is a driver, the error of a failed ask is cleared so that the next CUDA
// call does not see it. (Without one, every runtime call keeps answering "insufficient driver",
// cleared or not: nothing to check.)
TEST(CudaBackendTest, DeviceCountNeverLeavesAnErrorBehind) {
  const int count = CudaBackend::DeviceCount();
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  }
  int again = -1;
  if (cudaGetDeviceCount(&again) == cudaSuccess) {
    EXPECT_EQ(count, again);
  } else {
    EXPECT_EQ(count, 0);
  }
  cudaGetLastError();
}

}  // namespace
}  // namespace seqserve::memory
