#include "server/serving/repository_control.h"

#include <thread>
#include <utility>

namespace seqserve {

void RepositoryControl::Run(Action action, std::string name, const std::vector<std::string>& parameters,
                            std::function<void(const absl::Status&)> done) {
  bool refused = false;
  for (const std::string& parameter : parameters) {
    refused |= !(action == Action::kUnload && parameter == "unload_dependents");
  }
  if (refused) {
    done(absl::InvalidArgumentError(
        "load parameters (config or file overrides) are not supported; change the files in the repository, then "
        "load the model by name"));
    return;
  }
  {
    MutexLock lock(&mu_);
    ++running_;
  }
  std::thread([this, action, name = std::move(name), done = std::move(done)] {
    done(action == Action::kLoad ? repository_.Load(name) : repository_.Unload(name));
    MutexLock lock(&mu_);
    if (--running_ == 0) idle_.SignalAll();
  }).detach();
}

void RepositoryControl::WaitIdle() {
  MutexLock lock(&mu_);
  while (running_ > 0) idle_.Wait(&mu_);
}

}  // namespace seqserve
