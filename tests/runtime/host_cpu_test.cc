#include "runtime/resources/host_cpu.h"
#include "runtime/resources/host_memory.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "runtime/base/precision.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;

TEST(HostCpuTest, ParsesCgroupQuotas) {
  EXPECT_DOUBLE_EQ(*ParseCpuMax("200000 100000\n"), 2.0);
  EXPECT_DOUBLE_EQ(*ParseCpuMax("150000 100000"), 1.5);
  EXPECT_FALSE(ParseCpuMax("max 100000\n").has_value());
  EXPECT_FALSE(ParseCpuMax("garbage").has_value());
  EXPECT_FALSE(ParseCpuMax("").has_value());
  EXPECT_DOUBLE_EQ(*ParseCfsQuota("50000\n", "100000\n"), 0.5);
  EXPECT_FALSE(ParseCfsQuota("-1", "100000").has_value());
  EXPECT_FALSE(ParseCfsQuota("100000", "0").has_value());
}

TEST(HostCpuTest, BudgetIsTheSmallerOfQuotaAndAffinity) {
  EXPECT_EQ(BudgetCores(std::nullopt, 8), 8);
  EXPECT_EQ(BudgetCores(2.0, 8), 2);
  EXPECT_EQ(BudgetCores(1.5, 8), 1);   // a fraction of a core is not a core to spin a thread on
  EXPECT_EQ(BudgetCores(0.5, 8), 1);   // but there is always one
  EXPECT_EQ(BudgetCores(16.0, 4), 4);  // the affinity mask binds too
  EXPECT_EQ(BudgetCores(std::nullopt, 0), 1);
}

TEST(HostCpuTest, DefaultLayoutFollowsTheNotesRule) {
  auto layout = [](int cores, int count = 0, int threads = 0) {
    InstanceLayout l = DefaultInstanceLayout(cores, count, threads);
    return std::make_pair(l.instances, l.intra_op_threads);
  };
  EXPECT_EQ(layout(1), std::make_pair(1, 1));
  EXPECT_EQ(layout(2), std::make_pair(2, 1));
  EXPECT_EQ(layout(4), std::make_pair(4, 1));
  EXPECT_EQ(layout(8), std::make_pair(4, 2));
  EXPECT_EQ(layout(6), std::make_pair(4, 1));  // never more threads than cores
  // What config fixes stays; the other follows from the cores.
  EXPECT_EQ(layout(8, 1), std::make_pair(1, 8));
  EXPECT_EQ(layout(8, 0, 4), std::make_pair(2, 4));
  EXPECT_EQ(layout(2, 3), std::make_pair(3, 1));
  EXPECT_EQ(layout(2, 3, 5), std::make_pair(3, 5));
}

// A cgroup tree on disk, as the kernel lays it out, read through DetectCpuBudget.
class FakeCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("seqserve_cgroup_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
  }
  // Not fs::remove_all (see model_repository_test.cc).
  void TearDown() override { ASSERT_EQ(std::system(("rm -rf '" + root_.string() + "'").c_str()), 0); }
  void Write(const fs::path& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  CpuBudget Detect() { return DetectCpuBudget(root_.string(), (root_ / "self_cgroup").string()); }
  MemoryLimit DetectMemory() { return DetectMemoryLimit(root_.string(), (root_ / "self_cgroup").string()); }
  fs::path root_;
};

TEST_F(FakeCgroupTest, CgroupV2QuotaOfThePodApplies) {
  Write("self_cgroup", "0::/kubepods/pod1/ctr\n");
  Write("kubepods/pod1/ctr/cpu.max", "max 100000\n");
  Write("kubepods/pod1/cpu.max", "200000 100000\n");  // the pod's limit, one level up
  const CpuBudget b = Detect();
  ASSERT_TRUE(b.quota_cores.has_value());
  EXPECT_DOUBLE_EQ(*b.quota_cores, 2.0);
  EXPECT_EQ(b.cores, std::min(2, b.affinity_cores));
  EXPECT_NE(b.source.find("kubepods/pod1/cpu.max"), std::string::npos) << b.source;
}

TEST_F(FakeCgroupTest, CgroupV1QuotaWinsOnAHybridHost) {
  Write("self_cgroup", "4:cpu,cpuacct:/job\n0::/\n");
  Write("cpu,cpuacct/job/cpu.cfs_quota_us", "100000\n");
  Write("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
  Write("cpu.max", "400000 100000\n");  // v2 without the cpu controller: ignored
  const CpuBudget b = Detect();
  ASSERT_TRUE(b.quota_cores.has_value());
  EXPECT_DOUBLE_EQ(*b.quota_cores, 1.0);
  EXPECT_EQ(b.cores, 1);
}

TEST_F(FakeCgroupTest, NoQuotaMeansTheAffinityMask) {
  Write("self_cgroup", "0::/\n");
  Write("cpu.max", "max 100000\n");
  const CpuBudget b = Detect();
  EXPECT_FALSE(b.quota_cores.has_value());
  EXPECT_EQ(b.cores, b.affinity_cores);
  EXPECT_GE(b.cores, 1);
}

// Memory: the limit of the pod, v2, v1, hybrid and none, and the budget rule.
TEST(HostMemoryTest, ParsesLimits) {
  EXPECT_EQ(*ParseMemoryLimit("1048576000\n"), 1048576000u);
  EXPECT_FALSE(ParseMemoryLimit("max\n").has_value());
  EXPECT_FALSE(ParseMemoryLimit("").has_value());
  EXPECT_FALSE(ParseMemoryLimit("garbage").has_value());
  EXPECT_EQ(*ParseMemoryLimit("838860800\n"), 838860800u);
  EXPECT_FALSE(ParseMemoryLimit("9223372036854771712\n").has_value());  // v1's "no limit"
}

TEST_F(FakeCgroupTest, MemoryLimitV2IsTheSmallestUpTheTree) {
  Write("self_cgroup", "0::/kubepods/pod1/ctr\n");
  Write("kubepods/pod1/ctr/memory.max", "max\n");
  Write("kubepods/pod1/memory.max", "1048576000\n");  // the pod's limit, one level up
  Write("kubepods/memory.max", "8589934592\n");
  const MemoryLimit limit = DetectMemory();
  ASSERT_TRUE(limit.bytes.has_value());
  EXPECT_EQ(*limit.bytes, 1048576000u);
  EXPECT_NE(limit.source.find("kubepods/pod1/memory.max"), std::string::npos) << limit.source;
}

TEST_F(FakeCgroupTest, MemoryLimitV1WinsOnAHybridHost) {
  Write("self_cgroup", "4:memory:/job\n2:cpu,cpuacct:/\n0::/\n");
  Write("memory/job/memory.limit_in_bytes", "838860800\n");
  Write("memory/memory.limit_in_bytes", "9223372036854771712\n");
  Write("memory.max", "104857600\n");  // v2 without the memory controller: ignored
  const MemoryLimit limit = DetectMemory();
  ASSERT_TRUE(limit.bytes.has_value());
  EXPECT_EQ(*limit.bytes, 838860800u);
}

TEST_F(FakeCgroupTest, MemoryLimitV1WithoutANamespaceReadsTheMountsOwnRoot) {
  // The path names a host cgroup the container's mount does not show: its root has the limit.
  Write("self_cgroup", "4:memory:/docker/abc123\n");
  Write("memory/memory.limit_in_bytes", "524288000\n");
  const MemoryLimit limit = DetectMemory();
  ASSERT_TRUE(limit.bytes.has_value());
  EXPECT_EQ(*limit.bytes, 524288000u);
}

TEST_F(FakeCgroupTest, NoMemoryLimitFound) {
  Write("self_cgroup", "0::/\n");
  Write("memory.max", "max\n");
  EXPECT_FALSE(DetectMemory().bytes.has_value());
  Write("self_cgroup", "");
  EXPECT_FALSE(DetectMemory().bytes.has_value());
}

TEST(HostMemoryTest, PoolBudgetIsTheLimitLessWhatLivesOutsideThePoolAMarginAndRequests) {
  constexpr uint64_t kMiB = 1 << 20;
  PoolBudget plan = PlanPoolBudget(1000 * kMiB, /*resident=*/500 * kMiB, /*pool_reserved=*/100 * kMiB,
                                   /*requests=*/125 * kMiB);
  EXPECT_EQ(plan.outside_pool, 400 * kMiB);
  EXPECT_EQ(plan.margin, 64 * kMiB);  // max(64 MiB, 5%)
  EXPECT_EQ(plan.requests, 125 * kMiB);
  EXPECT_EQ(plan.budget, 1000 * kMiB - 400 * kMiB - 64 * kMiB - 125 * kMiB);
  plan = PlanPoolBudget(4000 * kMiB, 500 * kMiB, 0, 0);
  EXPECT_EQ(plan.margin, 200 * kMiB);
  EXPECT_EQ(plan.budget, 4000 * kMiB - 500 * kMiB - 200 * kMiB);
  // No limit: unlimited. A limit that leaves nothing: a budget nothing fits in, said so.
  EXPECT_EQ(PlanPoolBudget(std::nullopt, 500 * kMiB, 0, 125 * kMiB).budget, 0u);
  plan = PlanPoolBudget(300 * kMiB, 200 * kMiB, 0, 100 * kMiB);
  EXPECT_EQ(plan.budget, 1u);
  EXPECT_NE(plan.reason.find("refused"), std::string::npos) << plan.reason;
}

// Note [budget from the pod]: a sixteenth of the limit for requests in flight, twice that for
// gRPC's receive buffers (at least four of the largest messages), half of it for the largest
// request, within [4 MiB, 256 MiB].
TEST(HostMemoryTest, RequestBytesAndTheLargestRequestFollowTheLimit) {
  constexpr uint64_t kMiB = 1 << 20;
  EXPECT_EQ(RequestMemoryBudget(1000 * kMiB), 1000 * kMiB / 16);
  EXPECT_EQ(DefaultMaxMessageBytes(RequestMemoryBudget(1000 * kMiB)), 1000 * kMiB / 32);
  EXPECT_EQ(
      GrpcReceiveBytes(RequestMemoryBudget(1000 * kMiB), DefaultMaxMessageBytes(RequestMemoryBudget(1000 * kMiB))),
      1000 * kMiB / 8);
  // A largest message chosen above the default: the quota holds four of them.
  EXPECT_EQ(GrpcReceiveBytes(4 * kMiB, 8 * kMiB), 32 * kMiB);
  EXPECT_EQ(RequestMemoryBudget(64 * kMiB), 16 * kMiB);  // at least 16 MiB
  EXPECT_EQ(DefaultMaxMessageBytes(RequestMemoryBudget(64 * kMiB)), 8 * kMiB);
  EXPECT_EQ(DefaultMaxMessageBytes(4 * kMiB), 4 * kMiB);                                 // at least 4 MiB
  EXPECT_EQ(DefaultMaxMessageBytes(RequestMemoryBudget(64 * 1024 * kMiB)), 256 * kMiB);  // at most 256 MiB
}

TEST(PrecisionTest, RefusedWhereTheDeviceCannotRunIt) {
  const std::set<std::string> plain = {"sse4_2", "avx2", "fma"};
  const std::set<std::string> bf16 = {"avx2", "avx512f", "avx512_bf16"};
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kFp32, {}, std::nullopt).ok());
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kBf16, bf16, std::nullopt).ok());
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kBf16, {"amx_bf16", "amx_tile"}, std::nullopt).ok());
  absl::Status no_bf16 = CheckPrecisionSupported(Precision::kBf16, plain, std::nullopt);
  EXPECT_EQ(no_bf16.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(no_bf16.message().find("avx512_bf16"), std::string::npos) << no_bf16;
  EXPECT_EQ(CheckPrecisionSupported(Precision::kFp16, bf16, std::nullopt).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kInt8Dynamic, plain, std::nullopt).ok());
  EXPECT_EQ(CheckPrecisionSupported(Precision::kInt8Dynamic, {"sse4_2"}, std::nullopt).code(),
            absl::StatusCode::kUnavailable);
  // CUDA: by compute capability.
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kBf16, {}, 90).ok());
  EXPECT_EQ(CheckPrecisionSupported(Precision::kBf16, {}, 75).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(CheckPrecisionSupported(Precision::kFp16, {}, 75).ok());
  EXPECT_EQ(CheckPrecisionSupported(Precision::kInt8Dynamic, bf16, 90).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(PrecisionName(Precision::kInt8Dynamic), "INT8_DYNAMIC");
}

}  // namespace
}  // namespace seqserve
