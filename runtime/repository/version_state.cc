#include "runtime/repository/version_state.h"

namespace seqserve {

absl::string_view VersionStateName(VersionState state) {
  switch (state) {
    case VersionState::kLoading: return "LOADING";
    case VersionState::kReady: return "READY";
    case VersionState::kUnloading: return "UNLOADING";
    case VersionState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

VersionState StateOf(VersionPhase phase) {
  switch (phase) {
    case VersionPhase::kLoading: return VersionState::kLoading;
    case VersionPhase::kReady: return VersionState::kReady;
    case VersionPhase::kUnloading: return VersionState::kUnloading;
    case VersionPhase::kFailed:
    case VersionPhase::kUnloaded: return VersionState::kUnavailable;
  }
  return VersionState::kUnavailable;
}

}  // namespace seqserve
