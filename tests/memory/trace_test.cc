#include "memory/trace.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "memory/caching_allocator.h"
#include "memory/host_backend.h"
#include "memory/size_classes.h"
#include "memory/trace_replay.h"
#include "tests/memory/fake_backend.h"
#include "tests/memory/pool_test_util.h"

namespace seqserve::memory {
namespace {

using testing::FakeBackend;
using testing::MakePool;
using testing::MustAllocate;
using testing::MustFree;

class VectorSink : public TraceSink {
 public:
  void Record(const TraceEvent& event) override { events.push_back(event); }
  std::vector<TraceEvent> events;
};

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/seqserve_memory_" + name + "_" + std::to_string(::getpid());
}

TEST(TraceTest, RecordsEveryAllocationAndFree) {
  FakeBackend backend;
  VectorSink sink;
  CachingAllocator::Options options;
  options.trace_sink = &sink;
  auto pool = MakePool(&backend, options);
  char* a = MustAllocate(*pool, 100, 3);
  char* b = MustAllocate(*pool, 5 * kMiB, 0);
  ASSERT_TRUE(pool->Allocate(0).ok());  // zero-size: not an allocation, not traced
  MustFree(*pool, a);
  MustFree(*pool, b);
  ASSERT_EQ(sink.events.size(), 4u);
  const TraceEvent& e0 = sink.events[0];
  EXPECT_EQ(e0.op, TraceOp::kAlloc);
  EXPECT_EQ(e0.size, 100u);
  EXPECT_EQ(e0.address, reinterpret_cast<uintptr_t>(a));
  EXPECT_EQ(e0.stream, 3u);
  EXPECT_EQ(sink.events[2].op, TraceOp::kFree);
  EXPECT_EQ(sink.events[2].size, 100u);  // the freed allocation's request
  EXPECT_EQ(sink.events[2].address, reinterpret_cast<uintptr_t>(a));
  EXPECT_EQ(sink.events[3].size, 5 * kMiB);
  for (size_t i = 1; i < sink.events.size(); ++i) {
    EXPECT_GE(sink.events[i].time_ns, sink.events[i - 1].time_ns);
  }
}

TEST(TraceTest, FileRoundTripAndReplay) {
  const std::string path = TempPath("trace");
  PoolStats recorded;
  {
    absl::StatusOr<std::unique_ptr<FileTraceWriter>> writer = FileTraceWriter::Open(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    HostBackend backend;
    CachingAllocator::Options options;
    options.trace_sink = writer->get();
    auto pool = MakePool(&backend, options);
    std::vector<void*> live;
    for (int i = 0; i < 200; ++i) {
      live.push_back(MustAllocate(*pool, 1000 + 37 * i * i, i % 2));
      if (i % 3 == 2) {
        MustFree(*pool, live[live.size() / 2]);
        live.erase(live.begin() + live.size() / 2);
      }
    }
    recorded = pool->stats();
    for (void* p : live) MustFree(*pool, p);
    EXPECT_EQ((*writer)->events(), 400);
    ASSERT_TRUE((*writer)->Close().ok());
  }

  absl::StatusOr<std::vector<TraceEvent>> events = ReadTrace(path);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 400u);
  EXPECT_EQ((*events)[0].op, TraceOp::kAlloc);
  EXPECT_EQ((*events)[0].size, 1000u);
  EXPECT_EQ((*events)[1].stream, 1u);
  EXPECT_EQ(events->back().op, TraceOp::kFree);

  // Replayed on a fresh pool, the same workload reaches the same peak.
  HostBackend backend;
  auto pool = MakePool(&backend);
  absl::StatusOr<ReplayResult> result = ReplayTrace(*events, *pool);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->allocations, 200);
  EXPECT_EQ(result->frees, 200);
  EXPECT_EQ(result->skipped_frees, 0);
  EXPECT_EQ(result->live_at_end, 0);
  const PoolStats replayed = pool->stats();
  EXPECT_EQ(replayed.peak_allocated_bytes, recorded.peak_allocated_bytes);
  EXPECT_EQ(replayed.peak_reserved_bytes, recorded.peak_reserved_bytes);
  EXPECT_EQ(replayed.allocated_bytes, 0u);
  std::remove(path.c_str());
}

TEST(TraceTest, ReplaySkipsFreesOfUnknownAllocationsAndFreesLeftovers) {
  std::vector<TraceEvent> events = {
      {TraceOp::kFree, 10, 0x1000, 0, 1},   // allocated before the recording began
      {TraceOp::kAlloc, 10, 0x2000, 0, 2},  // never freed in the trace
  };
  FakeBackend backend;
  auto pool = MakePool(&backend);
  absl::StatusOr<ReplayResult> result = ReplayTrace(events, *pool);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->skipped_frees, 1);
  EXPECT_EQ(result->live_at_end, 1);
  EXPECT_EQ(pool->stats().live_blocks, 0u);

  events.push_back({TraceOp::kAlloc, 10, 0x2000, 0, 3});  // 0x2000 allocated twice
  EXPECT_EQ(ReplayTrace(events, *pool).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TraceTest, ReadTraceReportsMalformedLines) {
  EXPECT_EQ(ReadTrace("/nonexistent/seqserve/trace").status().code(), absl::StatusCode::kNotFound);
  const std::string path = TempPath("bad");
  for (const char* line :
       {"alloc 10 0x10 0", "grow 10 0x10 0 1", "alloc ten 0x10 0 1", "alloc 10 10 0 1", "free 10 0xzz 0 1"}) {
    {
      std::ofstream out(path);
      out << "# header\n\nalloc 1 0x1 0 1\n" << line << "\n";
    }
    absl::StatusOr<std::vector<TraceEvent>> events = ReadTrace(path);
    EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument) << line;
    EXPECT_NE(events.status().message().find(":4:"), absl::string_view::npos) << events.status();
  }
  std::remove(path.c_str());
}

TEST(TraceTest, FormatMatchesTheFileFormat) {
  TraceEvent e{TraceOp::kFree, 4096, 0x7f0000001000, 2, 123};
  EXPECT_EQ(FormatTraceEvent(e), "free 4096 0x7f0000001000 2 123");
}

}  // namespace
}  // namespace seqserve::memory
