// FakeLoader: a ModelLoader (runtime/repository/model_loader.h) for unit tests, so the repository is tested
// without libtorch. Runners come from a function of (version, instance); the loader counts what
// it was asked for. Thread-safe (the counters are atomic; `make` must be thread-safe itself).
#ifndef SEQSERVE_TESTS_TESTING_FAKE_LOADER_H_
#define SEQSERVE_TESTS_TESTING_FAKE_LOADER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "runtime/repository/model_loader.h"

namespace seqserve {

class FakeLoader final : public ModelLoader {
 public:
  using MakeRunner =
      std::function<absl::StatusOr<std::unique_ptr<BatchRunner>>(const VersionToLoad& version, int instance)>;

  explicit FakeLoader(MakeRunner make, std::string framework_version = "2.11.0")
      : make_(std::move(make)), framework_version_(std::move(framework_version)) {}

  std::string FrameworkVersion() const override { return framework_version_; }

  BatchRunnerFactory Prepare(const VersionToLoad& version) override {
    prepared_.fetch_add(1);
    return [this, version](int instance) {
      runners_.fetch_add(1);
      return make_(version, instance);
    };
  }

  // Versions prepared, and runners asked for, so far.
  int prepared() const { return prepared_.load(); }
  int runners() const { return runners_.load(); }

 private:
  const MakeRunner make_;
  const std::string framework_version_;
  std::atomic<int> prepared_{0};
  std::atomic<int> runners_{0};
};

}  // namespace seqserve

#endif  // SEQSERVE_TESTS_TESTING_FAKE_LOADER_H_
