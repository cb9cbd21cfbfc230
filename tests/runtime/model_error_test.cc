#include "runtime/base/model_error.h"

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

// A module loaded from a file shows serialized and original code (libtorch 2.11, the demo
// encoder with an id past its table), and with TORCH_SHOW_CPP_STACKTRACES a C++ stack follows
// the exception.
TEST(ModelErrorTest, TwoTracebacksAndAStackAfterTheException) {
  const std::string text =
      "The following operation failed in the TorchScript interpreter.\n"
      "Traceback of TorchScript, serialized code (most recent call last):\n"
      "  File \"code/__torch__/torch/nn/functional.py\", line 37, in embedding\n"
      "  _3 = torch.embedding(weight, input0, padding_idx0, scale_grad_by_freq, sparse)\n"
      "       ~~~~~~~~~~~~~~~ <--- HERE\n"
      "  return _3\n"
      "def layer_norm(input: Tensor,\n"  // top-level source lines are not indented
      "Traceback of TorchScript, original code (most recent call last):\n"
      "  File \"model.py\", line 3, in forward\n"
      "        return F.embedding(\n"
      "RuntimeError: index out of range in self\n"
      "Exception raised from operator() at aten/src/ATen/native/Indexing.cpp:1\n"
      "frame #0: c10::Error::Error(...) + 0x1 (0x7f in libc10.so)\n";
  EXPECT_EQ(SummarizeModelError(text), "RuntimeError: index out of range in self");
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
