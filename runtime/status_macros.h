// Early-return helpers for absl::Status / absl::StatusOr (Debian's abseil 20220623 has none).
#ifndef SEQSERVE_RUNTIME_STATUS_MACROS_H_
#define SEQSERVE_RUNTIME_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SEQSERVE_CONCAT_INNER_(a, b) a##b
#define SEQSERVE_CONCAT_(a, b) SEQSERVE_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define SEQSERVE_RETURN_IF_ERROR(expr)             \
  do {                                             \
    ::absl::Status seqserve_status_ = (expr);      \
    if (!seqserve_status_.ok()) return seqserve_status_; \
  } while (0)

// `lhs = value of expr`, or returns its error status from the enclosing function.
#define SEQSERVE_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto SEQSERVE_CONCAT_(seqserve_or_, __LINE__) = (expr);                      \
  if (!SEQSERVE_CONCAT_(seqserve_or_, __LINE__).ok())                          \
    return SEQSERVE_CONCAT_(seqserve_or_, __LINE__).status();                  \
  lhs = std::move(SEQSERVE_CONCAT_(seqserve_or_, __LINE__)).value()

#endif  // SEQSERVE_RUNTIME_STATUS_MACROS_H_
