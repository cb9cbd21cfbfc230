// The states of a model version, as clients see them (KServe's repository index, the
// seqserve_model_versions metric, readiness) and as the repository's lifecycle tracks them.
#ifndef SEQSERVE_RUNTIME_REPOSITORY_VERSION_STATE_H_
#define SEQSERVE_RUNTIME_REPOSITORY_VERSION_STATE_H_

#include "absl/strings/string_view.h"

namespace seqserve {

// LOADING: being loaded, not serving yet. READY: serving. UNLOADING: finishing the requests it
// accepted, taking no new ones. UNAVAILABLE: not serving (failed, unloaded, or not loaded yet).
enum class VersionState { kLoading, kReady, kUnloading, kUnavailable };
absl::string_view VersionStateName(VersionState state);

// Where a version is in its lifecycle (runtime/repository/model_repository.h, Note [swap]): UNAVAILABLE
// split by why, because the repository treats them differently — a version unloaded on purpose
// stays listed (as Triton lists it), a failed one the policy no longer serves is forgotten.
enum class VersionPhase {
  kLoading,    // loading and warming up; not serving
  kReady,      // serving
  kUnloading,  // out of the routes, finishing what it accepted
  kFailed,     // its load (or its model's config) failed; the reason says why
  kUnloaded,   // unloaded: by Unload(), by its policy, or its folder left
};
VersionState StateOf(VersionPhase phase);

// Reasons clients read for a model without a listed version, and for an unloaded version.
inline constexpr char kNotLoadedReason[] = "not loaded";
inline constexpr char kUnloadedReason[] = "unloaded";

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_REPOSITORY_VERSION_STATE_H_
