// RequestMetrics: what the request path counts per finished request — the status code and the
// end-to-end latency, per model and API. Observations are lock-free: a request finds its series
// in a published map (runtime/base/published.h) and counts with atomics; the exporter reads them at
// scrape time. Models that appear after start-up (poll or explicit mode) get series of their
// own when the repository reports the change (AddModels); a series, once made, lives as long
// as the RequestMetrics. Thread-safe.
#ifndef SEQSERVE_SERVER_OBSERVABILITY_REQUEST_METRICS_H_
#define SEQSERVE_SERVER_OBSERVABILITY_REQUEST_METRICS_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "memory/mutex.h"
#include "runtime/base/histogram.h"
#include "runtime/base/published.h"

namespace seqserve {

// The wire API a request came in on: seqserve's Predict, KServe v2 over gRPC, KServe v2 REST,
// the OpenAI-compatible routes (/v1/embeddings), the TEI-compatible ones (/embed, /predict, ...).
enum class Api { kPredict = 0, kKServe = 1, kRest = 2, kOpenAi = 3, kTei = 4 };
inline constexpr int kApiCount = 5;
absl::string_view ApiName(Api api);

// Requests naming a model the repository does not have are counted under this label, so that
// client-chosen strings never become label values.
inline constexpr char kUnknownModelLabel[] = "(unknown)";

class RequestMetrics {
 public:
  static constexpr int kCodeCount = 17;  // canonical gRPC codes 0..16

  explicit RequestMetrics(const std::vector<std::string>& models);

  struct Series {
    std::array<std::atomic<uint64_t>, kCodeCount> codes{};
    Histogram latency{Histogram::LatencyBounds()};
    // Requests that sent text (any API): their tokens, their tokenization time, and how many
    // there were per task (TextTask's order: embedding, classification, rerank).
    Histogram text_tokens{Histogram::PowersOfTwo(1 << 20)};
    Histogram tokenize_seconds{Histogram::MicroLatencyBounds()};
    std::array<std::atomic<uint64_t>, 3> text_requests{};
  };
  using PerApi = std::array<std::shared_ptr<Series>, kApiCount>;

  // Gives each of `models` not counted under its own name yet its series; the others keep
  // theirs, counts and all. Called when the repository's models change.
  void AddModels(const std::vector<std::string>& models);

  // The series of (api, model); names the repository does not have share kUnknownModelLabel's.
  // Look it up once per request, then Record into it.
  Series& SeriesFor(Api api, const std::string& model);
  static void Record(Series& series, absl::StatusCode code, absl::Duration latency);
  // Calls `visit` for every model label (kUnknownModelLabel among them), in name order.
  void ForEach(const std::function<void(const std::string& model, const PerApi& series)>& visit) const;

  // Requests answered with `code`, over all models and APIs.
  uint64_t Total(absl::StatusCode code) const;

  std::atomic<int64_t>& inflight() { return inflight_; }
  int64_t inflight_now() const { return inflight_.load(std::memory_order_relaxed); }

 private:
  using SeriesMap = std::map<std::string, PerApi>;
  Mutex add_mu_;  // one AddModels at a time (each copies the current map)
  Published<SeriesMap> series_;
  std::atomic<int64_t> inflight_{0};
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_OBSERVABILITY_REQUEST_METRICS_H_
