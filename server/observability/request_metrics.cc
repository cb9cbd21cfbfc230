#include "server/observability/request_metrics.h"

namespace seqserve {

absl::string_view ApiName(Api api) {
  switch (api) {
    case Api::kPredict: return "predict";
    case Api::kKServe: return "kserve";
    case Api::kRest: return "rest";
    case Api::kOpenAi: return "openai";
    case Api::kTei: return "tei";
  }
  return "unknown";
}

namespace {

RequestMetrics::PerApi NewSeries() {
  RequestMetrics::PerApi per_api;
  for (auto& s : per_api) s = std::make_shared<RequestMetrics::Series>();
  return per_api;
}

}  // namespace

RequestMetrics::RequestMetrics(const std::vector<std::string>& models)
    : series_(std::make_shared<const SeriesMap>(SeriesMap{{kUnknownModelLabel, NewSeries()}})) {
  AddModels(models);
}

void RequestMetrics::AddModels(const std::vector<std::string>& models) {
  MutexLock lock(&add_mu_);
  std::shared_ptr<SeriesMap> next;
  {
    Published<SeriesMap>::Reader current(series_);
    for (const std::string& model : models) {
      if (current->count(model) != 0) continue;
      if (next == nullptr) next = std::make_shared<SeriesMap>(*current);  // the series are shared, not copied
      next->emplace(model, NewSeries());
    }
  }
  if (next != nullptr) series_.Publish(std::move(next));
}

void RequestMetrics::ForEach(const std::function<void(const std::string&, const PerApi&)>& visit) const {
  Published<SeriesMap>::Reader series(series_);
  for (const auto& [model, per_api] : *series) visit(model, per_api);
}

uint64_t RequestMetrics::Total(absl::StatusCode code) const {
  uint64_t total = 0;
  ForEach([&](const std::string&, const PerApi& per_api) {
    for (const auto& s : per_api) total += s->codes[static_cast<int>(code)].load(std::memory_order_relaxed);
  });
  return total;
}

// The series outlives the reader: every map published holds every series made so far.
RequestMetrics::Series& RequestMetrics::SeriesFor(Api api, const std::string& model) {
  Published<SeriesMap>::Reader series(series_);
  auto it = series->find(model);
  if (it == series->end()) it = series->find(kUnknownModelLabel);
  return *it->second[static_cast<int>(api)];
}

void RequestMetrics::Record(Series& s, absl::StatusCode code, absl::Duration latency) {
  const int index = static_cast<int>(code);
  s.codes[index >= 0 && index < kCodeCount ? index : static_cast<int>(absl::StatusCode::kUnknown)].fetch_add(
      1, std::memory_order_relaxed);
  s.latency.Observe(absl::ToDoubleSeconds(latency));
}

}  // namespace seqserve
