// The in-process limit of the demo encoder: batches run directly through the libtorch runner
// (no gRPC, no queue), under several schedules, on the shared sequence-length distribution.
//
//   inprocess_encoder --repository=build/model_repository --lengths=../shared/data/seq_lengths.txt
//                     [--sequences=400] [--threads=1] [--repeats=3] [--schedules=one,sorted/1024,...]
//
// Prints a markdown table of sequences per second (median of --repeats) per schedule:
//   one           every sequence alone (what batching mode NONE computes)
//   sorted/T      sequences sorted by length, cut into batches of <= 32 rows and <= T padded tokens
//                 (the best case of LENGTH_BUCKETED: minimal padding)
//   random32      arrival order, batches of 32 padded to their longest member (PAD_TO_MAX)
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "benchmarks/common/encoder_workload.h"
#include "runtime/config/model_config.h"
#include "runtime/execution/model_executor.h"
#include "runtime/execution/request_validator.h"
#include "runtime/torch/torch_model.h"

namespace seqserve {
namespace {

struct Flags {
  std::string repository = "build/model_repository";
  std::string lengths = "../shared/data/seq_lengths.txt";
  int sequences = 400;
  int threads = 1;
  int repeats = 3;
  std::string schedules;  // comma-separated names to run; empty: all
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::string {
      const std::string prefix = std::string("--") + name + "=";
      return absl::StartsWith(arg, prefix) ? arg.substr(prefix.size()) : std::string();
    };
    if (!value("repository").empty()) f.repository = value("repository");
    if (!value("lengths").empty()) f.lengths = value("lengths");
    if (!value("sequences").empty()) (void)absl::SimpleAtoi(value("sequences"), &f.sequences);
    if (!value("threads").empty()) (void)absl::SimpleAtoi(value("threads"), &f.threads);
    if (!value("repeats").empty()) (void)absl::SimpleAtoi(value("repeats"), &f.repeats);
    if (!value("schedules").empty()) f.schedules = value("schedules");
  }
  return f;
}

// Batches as lists of indices into the sequence list.
using Schedule = std::vector<std::vector<int>>;

Schedule One(const std::vector<int64_t>& lengths) {
  Schedule s;
  for (int i = 0; i < static_cast<int>(lengths.size()); ++i) s.push_back({i});
  return s;
}

Schedule Sorted(const std::vector<int64_t>& lengths, int64_t token_budget) {
  std::vector<int> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return lengths[a] < lengths[b]; });
  Schedule s;
  std::vector<int> batch;
  for (int i : order) {
    const int64_t padded = lengths[i] * static_cast<int64_t>(batch.size() + 1);  // sorted: i is longest
    if (!batch.empty() && (batch.size() == 32 || padded > token_budget)) {
      s.push_back(batch);
      batch.clear();
    }
    batch.push_back(i);
  }
  if (!batch.empty()) s.push_back(batch);
  return s;
}

Schedule Random32(const std::vector<int64_t>& lengths) {
  Schedule s;
  for (size_t i = 0; i < lengths.size(); i += 32) {
    std::vector<int> batch;
    for (size_t j = i; j < std::min(lengths.size(), i + 32); ++j) batch.push_back(static_cast<int>(j));
    s.push_back(batch);
  }
  return s;
}

int Main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  absl::StatusOr<ModelSetup> setup = LoadModelConfig(flags.repository + "/encoder", ProcessCpuBudget().cores);
  if (!setup.ok()) {
    std::fprintf(stderr, "%s\n", setup.status().ToString().c_str());
    return 1;
  }
  ConfigureTorchProcess();
  TorchModelOptions options;
  options.path = flags.repository + "/encoder/1/model.pt";
  absl::StatusOr<std::unique_ptr<BatchRunner>> runner =
      LoadTorchModel(setup->signature, options, /*device_index=*/0, flags.threads);
  if (!runner.ok()) {
    std::fprintf(stderr, "%s\n", runner.status().ToString().c_str());
    return 1;
  }
  absl::Status warm = WarmUp(**runner, setup->signature, setup->warmup);
  if (!warm.ok()) {
    std::fprintf(stderr, "%s\n", warm.ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::vector<int64_t>> read =
      bench::ReadLengths(flags.lengths, static_cast<size_t>(flags.sequences), setup->signature.max_sequence_length);
  if (!read.ok()) {
    std::fprintf(stderr, "%s\n", read.status().ToString().c_str());
    return 1;
  }
  const std::vector<int64_t>& lengths = *read;
  std::mt19937 rng(1);
  std::vector<std::unique_ptr<InferenceRequest>> sequences;
  for (int64_t l : lengths) {
    sequences.push_back(bench::EncoderRequest(l, rng));
    if (absl::Status s = ValidateRequest(setup->signature, *sequences.back()); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }

  const std::vector<std::pair<std::string, Schedule>> schedules = {
      {"one", One(lengths)},
      {"sorted/512", Sorted(lengths, 512)},
      {"sorted/1024", Sorted(lengths, 1024)},
      {"sorted/2048", Sorted(lengths, 2048)},
      {"sorted/4096", Sorted(lengths, 4096)},
      {"sorted/16384", Sorted(lengths, 16384)},
      {"random32", Random32(lengths)},
  };
  std::printf("| schedule | batches | padding efficiency | seq/s (median of %d) |\n|---|---|---|---|\n", flags.repeats);
  const std::vector<std::string> wanted = absl::StrSplit(flags.schedules, ',', absl::SkipEmpty());
  for (const auto& [name, schedule] : schedules) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
    int64_t real = 0, padded = 0;
    for (const auto& b : schedule) {
      int64_t longest = 0;
      for (int i : b) longest = std::max(longest, lengths[i]), real += lengths[i];
      padded += longest * static_cast<int64_t>(b.size());
    }
    std::vector<double> rates;
    for (int rep = 0; rep < flags.repeats; ++rep) {
      const absl::Time start = absl::Now();
      for (const auto& indices : schedule) {
        Batch batch;
        for (int i : indices) {
          batch.requests.push_back(std::move(sequences[i]));
          batch.rows += 1;
          batch.padded_length = std::max(batch.padded_length, lengths[i]);
        }
        std::vector<InferenceResponse> responses(batch.requests.size());
        absl::Status status = (*runner)->Run(batch, responses);
        if (!status.ok()) {
          std::fprintf(stderr, "%s\n", status.ToString().c_str());
          return 1;
        }
        for (size_t k = 0; k < indices.size(); ++k) sequences[indices[k]] = std::move(batch.requests[k]);
      }
      rates.push_back(lengths.size() / absl::ToDoubleSeconds(absl::Now() - start));
    }
    std::sort(rates.begin(), rates.end());
    std::printf("| %s | %zu | %.2f | %.1f |\n", name.c_str(), schedule.size(), static_cast<double>(real) / padded,
                rates[rates.size() / 2]);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace seqserve

int main(int argc, char** argv) { return seqserve::Main(argc, argv); }
