#include "server/request_metrics.h"

namespace seqserve {

absl::string_view ApiName(Api api) {
  switch (api) {
    case Api::kPredict: return "predict";
    case Api::kKServe: return "kserve";
    case Api::kRest: return "rest";
  }
  return "unknown";
}

RequestMetrics::RequestMetrics(const std::vector<std::string>& models) {
  std::vector<std::string> labels = models;
  labels.push_back(kUnknownModelLabel);
  for (const std::string& label : labels) {
    auto& per_api = series_[label];
    for (auto& s : per_api) s = std::make_unique<Series>();
  }
}

uint64_t RequestMetrics::Total(absl::StatusCode code) const {
  uint64_t total = 0;
  for (const auto& [model, per_api] : series_) {
    for (const auto& s : per_api) total += s->codes[static_cast<int>(code)].load(std::memory_order_relaxed);
  }
  return total;
}

RequestMetrics::Series& RequestMetrics::SeriesFor(Api api, const std::string& model) {
  auto it = series_.find(model);
  if (it == series_.end()) it = series_.find(kUnknownModelLabel);
  return *it->second[static_cast<int>(api)];
}

void RequestMetrics::Record(Series& s, absl::StatusCode code, absl::Duration latency) {
  const int index = static_cast<int>(code);
  s.codes[index >= 0 && index < kCodeCount ? index : static_cast<int>(absl::StatusCode::kUnknown)].fetch_add(
      1, std::memory_order_relaxed);
  s.latency.Observe(absl::ToDoubleSeconds(latency));
}

}  // namespace seqserve
