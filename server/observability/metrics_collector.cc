#include "server/observability/metrics_collector.h"

#include <unistd.h>

#include <dirent.h>
#include <fstream>
#include <sstream>

#include <prometheus/text_serializer.h>

#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "runtime/resources/host_cpu.h"
#include "runtime/text/text_model.h"
#include "server/observability/metric_catalog.h"

namespace seqserve {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

void AddHistogram(MetricFamily& f, Labels labels, const HistogramSnapshot& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = h.sum;
  for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
    m.histogram.bucket.push_back({h.cumulative_counts[i], h.upper_bounds[i]});
  }
  m.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
}

void Push(std::vector<MetricFamily>& out, MetricFamily f) {
  if (!f.metric.empty()) out.push_back(std::move(f));
}

// Process metrics, read from /proc/self (the names client libraries use).
void AddProcessMetrics(std::vector<MetricFamily>& out) {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  // After the command: field 3 is state (index 0); utime 14, stime 15, starttime 22, rss 24.
  if (fields.size() < 22) return;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double cpu = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
  const double rss = std::stod(fields[21]) * page;
  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string line; std::getline(proc_stat, line);) {
    if (line.rfind("btime ", 0) == 0) boot_time = std::stod(line.substr(6));
  }
  const double start = boot_time + std::stod(fields[19]) / ticks;
  int fds = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr) ++fds;
    closedir(dir);
    fds -= 2;  // . and ..
  }
  PushValue(out, metric::kProcessCpu, cpu);
  PushValue(out, metric::kProcessResident, rss);
  PushValue(out, metric::kProcessStart, start);
  PushValue(out, metric::kProcessOpenFds, fds);
}

}  // namespace

MetricsCollector::MetricsCollector(const ModelRepository& repository, const RequestMetrics& requests, BuildInfo build)
    : repository_(repository), requests_(requests), build_(std::move(build)) {}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  std::vector<MetricFamily> out;

  // Requests, as the server answered them.
  MetricFamily requests = MakeFamily(metric::kRequests);
  MetricFamily latency = MakeFamily(metric::kRequestDuration);
  MetricFamily text_requests = MakeFamily(metric::kTextRequests);
  MetricFamily text_tokens = MakeFamily(metric::kTextTokens);
  MetricFamily tokenization = MakeFamily(metric::kTokenizationDuration);
  std::map<std::string, uint64_t> invalid;
  requests_.ForEach([&](const std::string& model, const RequestMetrics::PerApi& per_api) {
    for (int api = 0; api < kApiCount; ++api) {
      const RequestMetrics::Series& s = *per_api[api];
      const std::string api_name(ApiName(static_cast<Api>(api)));
      for (int code = 0; code < RequestMetrics::kCodeCount; ++code) {
        const uint64_t n = s.codes[code].load(std::memory_order_relaxed);
        if (n == 0) continue;
        const std::string code_name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
        AddValue(requests, {{"model", model}, {"api", api_name}, {"code", code_name}}, static_cast<double>(n));
        if (code == static_cast<int>(absl::StatusCode::kInvalidArgument)) invalid[model] += n;
      }
      const HistogramSnapshot h = s.latency.Snapshot();
      if (h.count > 0) AddHistogram(latency, {{"model", model}, {"api", api_name}}, h);
      for (TextTask task : {TextTask::kEmbedding, TextTask::kClassification, TextTask::kRerank}) {
        const uint64_t n = s.text_requests[static_cast<size_t>(task)].load(std::memory_order_relaxed);
        if (n == 0) continue;
        AddValue(text_requests, {{"model", model}, {"api", api_name}, {"task", std::string(TextTaskName(task))}},
                 static_cast<double>(n));
      }
      const HistogramSnapshot t = s.text_tokens.Snapshot();
      if (t.count > 0) AddHistogram(text_tokens, {{"model", model}, {"api", api_name}}, t);
      const HistogramSnapshot d = s.tokenize_seconds.Snapshot();
      if (d.count > 0) AddHistogram(tokenization, {{"model", model}, {"api", api_name}}, d);
    }
  });
  Push(out, std::move(requests));
  Push(out, std::move(latency));
  Push(out, std::move(text_requests));
  Push(out, std::move(text_tokens));
  Push(out, std::move(tokenization));
  PushValue(out, metric::kInflight, static_cast<double>(requests_.inflight_now()));

  // Batching and execution, per model version.
  MetricFamily depth = MakeFamily(metric::kQueueDepth);
  MetricFamily recent = MakeFamily(metric::kRecentQueueWait);
  MetricFamily queue = MakeFamily(metric::kQueueDuration);
  MetricFamily compute = MakeFamily(metric::kComputeDuration);
  MetricFamily batches = MakeFamily(metric::kBatches);
  MetricFamily rows = MakeFamily(metric::kBatchRows);
  MetricFamily padded = MakeFamily(metric::kPaddedLength);
  MetricFamily tokens = MakeFamily(metric::kTokens);
  MetricFamily efficiency = MakeFamily(metric::kPaddingEfficiency);
  MetricFamily splits = MakeFamily(metric::kBatchSplits);
  MetricFamily bisections = MakeFamily(metric::kBatchBisections);
  MetricFamily failures = MakeFamily(metric::kModelFailures);
  MetricFamily rejections = MakeFamily(metric::kRejections);
  MetricFamily instances = MakeFamily(metric::kModelInstances);
  MetricFamily threads = MakeFamily(metric::kIntraOpThreads);
  MetricFamily memory_ratio = MakeFamily(metric::kMemoryActualOverPredicted);
  MetricFamily memory_limited = MakeFamily(metric::kMemoryLimitedBatches);
  MetricFamily memory_waits = MakeFamily(metric::kBatchMemoryWaits);
  MetricFamily chunked = MakeFamily(metric::kChunkedRequests);
  MetricFamily chunks = MakeFamily(metric::kRowChunks);
  std::map<std::string, std::map<std::string, int64_t>> reasons;
  for (const auto& [key, stats] : repository_.StatsSnapshot()) {
    const Labels labels = {{"model", key.first}, {"version", std::to_string(key.second)}};
    const BatcherStats& b = stats.batcher;
    const ExecutionStats& e = stats.execution;
    AddValue(depth, labels, static_cast<double>(b.queued));
    AddValue(instances, labels, stats.instances);
    AddValue(threads, labels, stats.intra_op_threads);
    AddValue(recent, labels, e.recent_queue_seconds);
    AddHistogram(queue, labels, e.queue_seconds);
    AddHistogram(compute, labels, e.compute_seconds);
    AddValue(batches, labels, static_cast<double>(b.batches));
    AddHistogram(rows, labels, b.rows_per_batch);
    if (b.padded_length_per_batch.count > 0) AddHistogram(padded, labels, b.padded_length_per_batch);
    Labels real = labels, pad = labels;
    real.push_back({"kind", "real"});
    pad.push_back({"kind", "padded"});
    AddValue(tokens, real, static_cast<double>(b.real_tokens));
    AddValue(tokens, pad, static_cast<double>(b.padded_tokens));
    AddValue(efficiency, labels, b.padded_tokens > 0 ? static_cast<double>(b.real_tokens) / b.padded_tokens : 1.0);
    reasons[key.first]["queue_full"] += b.rejected_queue_full;
    reasons[key.first]["deadline"] += b.expired + e.expired_in_retry;
    reasons[key.first]["cancelled"] += b.cancelled + e.cancelled_in_retry;
    reasons[key.first]["oom"] += e.oom_failures;
    AddValue(splits, labels, static_cast<double>(e.batch_splits));
    AddValue(bisections, labels, static_cast<double>(e.batch_bisections));
    AddValue(failures, labels, static_cast<double>(e.fail_count - e.oom_failures));
    if (e.memory_actual_over_predicted.count > 0) AddHistogram(memory_ratio, labels, e.memory_actual_over_predicted);
    AddValue(memory_limited, labels, static_cast<double>(b.memory_limited_batches));
    AddValue(memory_waits, labels, static_cast<double>(e.memory_waits));
    AddValue(chunked, labels, static_cast<double>(e.chunked_requests));
    AddValue(chunks, labels, static_cast<double>(e.row_chunks));
    reasons[key.first]["memory"] += e.memory_refusals;
  }
  for (const auto& [model, n] : invalid) reasons[model]["invalid"] += static_cast<int64_t>(n);
  for (const auto& [model, by_reason] : reasons) {
    for (const auto& [reason, n] : by_reason) {
      AddValue(rejections, {{"model", model}, {"reason", reason}}, static_cast<double>(n));
    }
  }
  for (MetricFamily* f : {&depth,   &recent,       &queue,          &compute,      &batches,  &rows,       &padded,
                          &tokens,  &efficiency,   &splits,         &bisections,   &failures, &rejections, &instances,
                          &threads, &memory_ratio, &memory_limited, &memory_waits, &chunked,  &chunks}) {
    Push(out, std::move(*f));
  }

  // Model control: loads and the versions in each state.
  MetricFamily loads = MakeFamily(metric::kModelLoads);
  MetricFamily load_seconds = MakeFamily(metric::kModelLoadDuration);
  for (const auto& [model, stats] : repository_.LoadStatsSnapshot()) {
    AddValue(loads, {{"model", model}, {"result", "success"}}, static_cast<double>(stats.succeeded));
    AddValue(loads, {{"model", model}, {"result", "failure"}}, static_cast<double>(stats.failed));
    AddHistogram(load_seconds, {{"model", model}}, stats.seconds);
  }
  MetricFamily versions = MakeFamily(metric::kModelVersions);
  for (const std::string& model : repository_.ModelNames()) {
    absl::StatusOr<ModelInfo> info = repository_.GetModelInfo(model);
    if (!info.ok()) continue;  // left the repository meanwhile
    std::map<VersionState, int> count = {{VersionState::kLoading, 0},
                                         {VersionState::kReady, 0},
                                         {VersionState::kUnloading, 0},
                                         {VersionState::kUnavailable, 0}};
    for (const VersionStatus& v : info->versions) ++count[v.state];
    for (const auto& [state, n] : count) {
      AddValue(versions, {{"model", model}, {"state", std::string(VersionStateName(state))}}, n);
    }
  }
  for (MetricFamily* f : {&loads, &load_seconds, &versions}) Push(out, std::move(*f));

  for (const Provider& provider : providers_) provider(out);

  PushValue(out, metric::kCpuBudget, ProcessCpuBudget().cores);
  MetricFamily build = MakeFamily(metric::kBuildInfo);
  AddValue(build, {{"version", build_.version}, {"torch_version", build_.torch_version}, {"device", build_.device}}, 1);
  out.push_back(std::move(build));
  AddProcessMetrics(out);
  return out;
}

std::string SerializeMetrics(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace seqserve
