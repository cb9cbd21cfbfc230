#include "server/observability/metric_catalog.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace seqserve {

absl::Span<const MetricSpec* const> AllMetrics() {
  static constexpr const MetricSpec* kAll[] = {
      &metric::kRequests,
      &metric::kRequestDuration,
      &metric::kTextRequests,
      &metric::kTextTokens,
      &metric::kTokenizationDuration,
      &metric::kInflight,
      &metric::kQueueDepth,
      &metric::kRecentQueueWait,
      &metric::kQueueDuration,
      &metric::kComputeDuration,
      &metric::kBatches,
      &metric::kBatchRows,
      &metric::kPaddedLength,
      &metric::kTokens,
      &metric::kPaddingEfficiency,
      &metric::kRejections,
      &metric::kChunkedRequests,
      &metric::kRowChunks,
      &metric::kMemoryLimitedBatches,
      &metric::kBatchMemoryWaits,
      &metric::kMemoryActualOverPredicted,
      &metric::kBatchSplits,
      &metric::kBatchBisections,
      &metric::kModelFailures,
      &metric::kModelInstances,
      &metric::kIntraOpThreads,
      &metric::kModelLoads,
      &metric::kModelLoadDuration,
      &metric::kModelVersions,
      &metric::kMemoryLimit,
      &metric::kMemoryOutsidePool,
      &metric::kMemoryMargin,
      &metric::kBatchBudget,
      &metric::kBatchAdmitted,
      &metric::kRequestMemory,
      &metric::kRequestMemoryPeak,
      &metric::kRequestMemoryBudget,
      &metric::kRequestMemoryRefusals,
      &metric::kRestHangups,
      &metric::kPoolReserved,
      &metric::kPoolAllocated,
      &metric::kPoolPeakReserved,
      &metric::kPoolPeakAllocated,
      &metric::kPoolCachedFree,
      &metric::kPoolDecommitted,
      &metric::kPoolLargestFreeBlock,
      &metric::kPoolFragmentation,
      &metric::kPoolOverhead,
      &metric::kPoolSegments,
      &metric::kPoolBackendAllocations,
      &metric::kPoolBackendGrows,
      &metric::kPoolBackendFrees,
      &metric::kPoolBackendDecommits,
      &metric::kPoolBackendCommits,
      &metric::kPoolCacheHit,
      &metric::kPoolOom,
      &metric::kPoolSegmentsAdopted,
      &metric::kPoolCapacity,
      &metric::kPoolHeadroom,
      &metric::kCpuBudget,
      &metric::kBuildInfo,
      &metric::kProcessCpu,
      &metric::kProcessResident,
      &metric::kProcessStart,
      &metric::kProcessOpenFds,
  };
  return kAll;
}

prometheus::MetricFamily MakeFamily(const MetricSpec& spec) {
  prometheus::MetricFamily family;
  family.name = spec.name;
  family.help = spec.help;
  family.type = spec.type;
  return family;
}

void AddValue(prometheus::MetricFamily& family, std::vector<prometheus::ClientMetric::Label> labels, double value) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  (family.type == prometheus::MetricType::Counter ? metric.counter.value : metric.gauge.value) = value;
  family.metric.push_back(std::move(metric));
}

void PushValue(std::vector<prometheus::MetricFamily>& out, const MetricSpec& spec, double value) {
  prometheus::MetricFamily family = MakeFamily(spec);
  AddValue(family, {}, value);
  out.push_back(std::move(family));
}

std::string MetricsMarkdown() {
  std::string out = "| metric | type | meaning |\n|---|---|---|\n";
  for (const MetricSpec* spec : AllMetrics()) {
    const char* type = spec->type == prometheus::MetricType::Counter ? "counter"
                       : spec->type == prometheus::MetricType::Gauge ? "gauge"
                                                                     : "histogram";
    const std::string labels = spec->labels[0] == '\0' ? "" : absl::StrCat("{", spec->labels, "}");
    absl::StrAppend(&out, "| `", spec->name, labels, "` | ", type, " | ",
                    absl::StrReplaceAll(spec->help, {{"|", "\\|"}}), " |\n");
  }
  return out;
}

}  // namespace seqserve
