// MetricsCollector: builds every seqserve metric family at scrape time from snapshots — the
// request counters of the server, the batcher and executor counters of each model version, an
// optional memory-pool provider, build and process information. Nothing on the request path
// touches Prometheus types. Thread-safe (Collect() may run concurrently with requests).
//
// Every family is declared in server/observability/metric_catalog.h (Note [metrics declared
// once]), which names, types, labels and describes it; docs/operations.md's table is generated
// from there.
#ifndef SEQSERVE_SERVER_OBSERVABILITY_METRICS_COLLECTOR_H_
#define SEQSERVE_SERVER_OBSERVABILITY_METRICS_COLLECTOR_H_

#include <functional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "runtime/repository/model_repository.h"
#include "server/observability/request_metrics.h"
#include "server/observability/version.h"

namespace seqserve {

class MetricsCollector : public prometheus::Collectable {
 public:
  // Adds families of its own (e.g. the memory pool's) to a scrape.
  using Provider = std::function<void(std::vector<prometheus::MetricFamily>& families)>;

  MetricsCollector(const ModelRepository& repository, const RequestMetrics& requests, BuildInfo build);

  void AddProvider(Provider provider) { providers_.push_back(std::move(provider)); }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ModelRepository& repository_;
  const RequestMetrics& requests_;
  const BuildInfo build_;
  std::vector<Provider> providers_;
};

// Serializes a scrape in the Prometheus text format.
std::string SerializeMetrics(const std::vector<prometheus::MetricFamily>& families);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_OBSERVABILITY_METRICS_COLLECTOR_H_
