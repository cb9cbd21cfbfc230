#include "runtime/model_error.h"

#include <string>

#include <gtest/gtest.h>

namespace seqserve {
namespace {

// The shape of libtorch 2.11's message for an error raised inside a scripted forward (seen with
// nn.Embedding and an id past its table).
constexpr char kTraceback[] =
    "The following operation failed in the TorchScript interpreter.\n"
    "Traceback of TorchScript (most recent call last):\n"
    "  File \"torch/nn/modules/sparse.py\", line 189, in forward\n"
    "    def forward(self, input: Tensor) -> Tensor:\n"
    "        return F.embedding(\n"
    "               ~~~~~~~~~~~ <--- HERE\n"
    "RuntimeError: index out of range in self\n";

TEST(ModelErrorTest, TracebackBecomesItsOriginalError) {
  EXPECT_EQ(SummarizeModelError(kTraceback), "RuntimeError: index out of range in self");
}

TEST(ModelErrorTest, OtherErrorsKeepTheirFirstLine) {
  EXPECT_EQ(SummarizeModelError("shape mismatch: [2, 3] vs [2, 4]\nmore detail\n"), "shape mismatch: [2, 3] vs [2, 4]");
  EXPECT_EQ(SummarizeModelError(""), "unknown error");
}

TEST(ModelErrorTest, LongLinesAreCut) {
  const std::string summary = SummarizeModelError(std::string(5000, 'x'));
  EXPECT_EQ(summary.size(), kMaxModelErrorSummary);
  EXPECT_EQ(summary.substr(summary.size() - 3), "...");
}

}  // namespace
}  // namespace seqserve
