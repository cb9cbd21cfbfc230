// RequestMetrics and MetricsCollector: what the request path counts and what a scrape shows.
#include "server/observability/metrics_collector.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"
#include "memory/host_backend.h"
#include "server/admission/memory_metrics.h"
#include "server/admission/pod_memory.h"
#include "server/admission/request_memory.h"
#include "server/observability/metric_catalog.h"
#include "server/observability/request_metrics.h"
#include "server/serving/request_path.h"
#include "tests/testing/fake_repository.h"

namespace seqserve {
namespace {

TEST(RequestMetricsTest, SeriesAreKeptPerModelAndApiAndUnknownNamesShareOne) {
  RequestMetrics metrics({"a", "b"});
  RequestMetrics::Record(metrics.SeriesFor(Api::kKServe, "a"), absl::StatusCode::kOk, absl::Milliseconds(3));
  RequestMetrics::Record(metrics.SeriesFor(Api::kRest, "a"), absl::StatusCode::kOk, absl::Milliseconds(3));
  RequestMetrics::Record(metrics.SeriesFor(Api::kKServe, "../etc/passwd"), absl::StatusCode::kNotFound,
                         absl::Milliseconds(1));
  RequestMetrics::Record(metrics.SeriesFor(Api::kKServe, "another typo"), absl::StatusCode::kNotFound,
                         absl::Milliseconds(1));
  EXPECT_EQ(&metrics.SeriesFor(Api::kKServe, "x"), &metrics.SeriesFor(Api::kKServe, kUnknownModelLabel));
  EXPECT_NE(&metrics.SeriesFor(Api::kKServe, "a"), &metrics.SeriesFor(Api::kRest, "a"));
  EXPECT_EQ(metrics.Total(absl::StatusCode::kOk), 2u);
  EXPECT_EQ(metrics.Total(absl::StatusCode::kNotFound), 2u);
  std::vector<std::string> labels;
  metrics.ForEach([&](const std::string& model, const RequestMetrics::PerApi&) { labels.push_back(model); });
  EXPECT_EQ(labels, (std::vector<std::string>{kUnknownModelLabel, "a", "b"}));  // client strings never become labels
  const RequestMetrics::Series& rest_a = metrics.SeriesFor(Api::kRest, "a");
  EXPECT_EQ(rest_a.codes[0].load(), 1u);
  EXPECT_EQ(rest_a.latency.Snapshot().count, 1u);
  EXPECT_EQ(ApiName(Api::kPredict), "predict");
  EXPECT_EQ(ApiName(Api::kKServe), "kserve");
  EXPECT_EQ(ApiName(Api::kRest), "rest");
}

// A model that appears after start-up (poll or explicit mode) is counted under its own name
// from then on; the series counted before keep their counts and their addresses (a request in
// flight holds one).
TEST(RequestMetricsTest, ModelsAddedLaterGetSeriesOfTheirOwn) {
  RequestMetrics metrics({"a"});
  RequestMetrics::Series* a = &metrics.SeriesFor(Api::kKServe, "a");
  RequestMetrics::Record(*a, absl::StatusCode::kOk, absl::Milliseconds(1));
  EXPECT_EQ(&metrics.SeriesFor(Api::kKServe, "late"), &metrics.SeriesFor(Api::kKServe, kUnknownModelLabel));
  metrics.AddModels({"a", "late"});
  RequestMetrics::Series* late = &metrics.SeriesFor(Api::kKServe, "late");
  EXPECT_NE(late, &metrics.SeriesFor(Api::kKServe, kUnknownModelLabel));
  EXPECT_EQ(&metrics.SeriesFor(Api::kKServe, "a"), a);
  RequestMetrics::Record(*late, absl::StatusCode::kOk, absl::Milliseconds(1));
  EXPECT_EQ(a->codes[0].load(), 1u);
  EXPECT_EQ(late->codes[0].load(), 1u);
  EXPECT_EQ(metrics.Total(absl::StatusCode::kOk), 2u);
}

// One two-row Predict request to the echo model through `path`; false when it is not answered
// within 10 s.
bool AnswerOneEcho(RequestPath& path) {
  std::atomic<bool> done{false};
  path.Start(
      CallInfo{Api::kPredict, "echo"}, FakeRepository::EchoRequest(/*rows=*/2),
      [](InferenceResponse&) { return absl::OkStatus(); }, [&done](absl::Status) { done = true; });
  for (int k = 0; k < 1000 && !done; ++k) absl::SleepFor(absl::Milliseconds(10));
  return done;
}

// A scrape after real traffic through the request path: the counters are the traffic, and the
// build and model series are there with their labels.
TEST(MetricsCollectorTest, AScrapeShowsTheTrafficTheModelAndTheBuild) {
  FakeRepository fake;
  ServingState state;
  RequestMetrics metrics(fake.repository().ModelNames());
  RequestPath path(fake.repository(), state, metrics);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AnswerOneEcho(path));
  path.Start(CallInfo{Api::kPredict, "echo"}, absl::InvalidArgumentError("bad"), nullptr, [](absl::Status) {});

  MetricsCollector collector(fake.repository(), metrics, BuildInfo{"9.9.9", "2.11.0", "cpu"});
  collector.AddProvider([](std::vector<prometheus::MetricFamily>& families) {
    prometheus::MetricFamily f;
    f.name = "seqserve_test_provided";
    f.help = "From a provider.";
    f.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric m;
    m.gauge.value = 42;
    f.metric.push_back(m);
    families.push_back(f);
  });
  const std::string text = SerializeMetrics(collector.Collect());
  auto has = [&text](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(seqserve_requests_total{model="echo",api="predict",code="OK"} 3)")) << text;
  EXPECT_TRUE(has(R"(seqserve_requests_total{model="echo",api="predict",code="INVALID_ARGUMENT"} 1)")) << text;
  EXPECT_TRUE(has(R"(seqserve_request_duration_seconds_count{model="echo",api="predict"} 4)")) << text;
  EXPECT_TRUE(has("seqserve_inflight_requests 0")) << text;
  EXPECT_TRUE(has(R"(seqserve_build_info{version="9.9.9",torch_version="2.11.0",device="cpu"} 1)")) << text;
  EXPECT_TRUE(has("seqserve_test_provided 42")) << text;
  EXPECT_NE(text.find(R"(seqserve_batches_total{model="echo",version="1"})"), std::string::npos) << text;
}

// Note [metrics declared once]: every family a scrape can hold — the collector's, the pools',
// the request memory's and the pod's — is one of AllMetrics(), with that spec's type and help,
// and every series carries exactly the spec's labels, in order; no spec is exported twice.
TEST(MetricCatalogTest, EveryExportedFamilyIsDeclaredWithItsTypeHelpAndLabels) {
  std::map<std::string, const MetricSpec*> declared;
  for (const MetricSpec* spec : AllMetrics()) {
    EXPECT_TRUE(declared.emplace(spec->name, spec).second) << spec->name << " is declared twice";
  }

  FakeRepository fake;
  ServingState state;
  RequestMetrics metrics(fake.repository().ModelNames());
  RequestPath path(fake.repository(), state, metrics);
  ASSERT_TRUE(AnswerOneEcho(path));
  // A text request's series as RequestPath::RunText records them (the echo model has no tokenizer).
  RequestMetrics::Series& text = metrics.SeriesFor(Api::kOpenAi, fake.repository().ModelNames().front());
  text.text_tokens.Observe(12);
  text.tokenize_seconds.Observe(1e-5);
  text.text_requests[0].fetch_add(1);

  memory::HostBackend backend;
  std::unique_ptr<memory::CachingAllocator> pool = std::move(*memory::CachingAllocator::Create(&backend));
  MemoryGate gate;
  PodMemory pod(/*budget_flag=*/-1, 1 << 20, pool.get(), &gate, MemoryLimit{1 << 30, "test"}, [] { return 0; });
  RequestMemory request_memory(1 << 20);
  std::atomic<int64_t> hangups{0};
  MetricsCollector collector(fake.repository(), metrics, BuildInfo{"9.9.9", "2.11.0", "cpu"});
  collector.AddProvider(MemoryPoolMetrics({PoolSource{"cpu", pool.get(), [] { return uint64_t{1} << 30; }}}));
  collector.AddProvider(RequestMemoryMetrics(request_memory, hangups));
  collector.AddProvider(pod.Metrics());

  std::set<std::string> exported;
  for (const prometheus::MetricFamily& family : collector.Collect()) {
    EXPECT_TRUE(exported.insert(family.name).second) << family.name << " is exported twice";
    auto it = declared.find(family.name);
    ASSERT_NE(it, declared.end()) << family.name << " is exported but not declared in metric_catalog.h";
    EXPECT_EQ(family.type, it->second->type) << family.name;
    EXPECT_EQ(family.help, it->second->help) << family.name;
    for (const prometheus::ClientMetric& series : family.metric) {
      std::vector<std::string> names;
      for (const prometheus::ClientMetric::Label& label : series.label) names.push_back(label.name);
      EXPECT_EQ(absl::StrJoin(names, ","), it->second->labels) << family.name;
    }
  }
  // A scrape with traffic, a model, a pool and the pod shows every declared family but two that
  // appear once observed: padded lengths (the echo model has no sequence axis) and the measured
  // over predicted memory of batches (the fake runner allocates nothing).
  const std::set<std::string> observed_only = {metric::kPaddedLength.name, metric::kMemoryActualOverPredicted.name};
  for (const auto& [name, spec] : declared) {
    EXPECT_TRUE(exported.count(name) || observed_only.count(name)) << name << " was not exported";
  }
}

}  // namespace
}  // namespace seqserve
