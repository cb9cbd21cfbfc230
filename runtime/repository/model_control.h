// ModelControlMode: how the set of loaded models may change while the server runs (Triton's
// --model-control-mode, same names and meanings). ModelRepository (runtime/repository/model_repository.h)
// carries out each mode.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_MODEL_CONTROL_H_
#define SEQSERVE_RUNTIME_REPOSITORY_MODEL_CONTROL_H_

#include "absl/strings/string_view.h"

namespace seqserve {

enum class ModelControlMode {
  kNone,      // every model loads at start; the set never changes (the default)
  kExplicit,  // the models named at start load; load / unload requests change the set
  kPoll,      // every model loads at start; repository polls pick up what changed on disk
};

inline absl::string_view ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone: return "none";
    case ModelControlMode::kExplicit: return "explicit";
    case ModelControlMode::kPoll: return "poll";
  }
  return "unknown";
}

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_MODEL_CONTROL_H_
