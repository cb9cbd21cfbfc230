#include "server/api/kserve_stream.h"

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "server/api/kserve_service.h"
#include "server/observability/request_metrics.h"
#include "server/serving/readiness.h"
#include "tests/testing/fake_repository.h"

namespace seqserve {
namespace {

using Stream = grpc::ClientReaderWriter<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

// The KServe service over loopback on an ephemeral port, in-process, on a FakeRepository.
class KServeStreamTest : public testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
    fake_.Release();
  }

  static inference::ModelInferRequest Request(const std::string& id, const std::string& model = "echo") {
    inference::ModelInferRequest r;
    r.set_model_name(model);
    r.set_id(id);
    auto* x = r.add_inputs();
    x->set_name("x");
    x->set_datatype("FP32");
    x->add_shape(1);
    x->add_shape(2);
    const float v[2] = {1, 2};
    r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(v), sizeof v));
    return r;
  }

  // Every request the path finished, by any status.
  uint64_t Finished() const {
    uint64_t n = 0;
    for (int c = 0; c < RequestMetrics::kCodeCount; ++c) n += metrics_.Total(static_cast<absl::StatusCode>(c));
    return n;
  }
  // Waits at most 10 s for the reactors to be gone and nothing in flight; then whether between
  // `at_least` and `at_most` requests were finished. (A cancelled stream's unread requests never
  // reach the path; inflight returns to 0 only if every request that did finished exactly once.)
  bool Settled(uint64_t at_least, uint64_t at_most) const {
    for (int i = 0; i < 1000 && (LiveStreamReactors() != 0 || metrics_.inflight_now() != 0); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return LiveStreamReactors() == 0 && metrics_.inflight_now() == 0 && Finished() >= at_least && Finished() <= at_most;
  }

  FakeRepository fake_;
  ServingState state_;
  RequestMetrics metrics_{{"echo"}};
  RequestPath path_{fake_.repository(), state_, metrics_};
  Readiness readiness_{fake_.repository(), state_, /*strict=*/false};
  KServeService service_{path_, readiness_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(KServeStreamTest, AnswersInRequestOrderAndABadRequestDoesNotEndTheStream) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->Write(Request("a")));
  ASSERT_TRUE(stream->Write(Request("b", "no_such_model")));
  ASSERT_TRUE(stream->Write(Request("c")));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<inference::ModelStreamInferResponse> got;
  inference::ModelStreamInferResponse response;
  while (got.size() < 4 && stream->Read(&response)) got.push_back(response);
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].infer_response().id(), "a");
  EXPECT_EQ(got[0].error_message(), "");
  EXPECT_EQ(got[1].infer_response().id(), "b");
  EXPECT_NE(got[1].error_message().find("unknown model 'no_such_model'"), std::string::npos);
  EXPECT_EQ(got[2].infer_response().id(), "c");
  EXPECT_EQ(got[2].infer_response().outputs(0).name(), "y");
  EXPECT_TRUE(Settled(3, 3));
}

// The client cancels while its requests are in the model: the call ends CANCELLED at once, the
// requests still finish (each exactly once), and the reactor goes only after the last of them.
TEST_F(KServeStreamTest, CancelWhileRequestsRunEndsTheCallAndFreesTheReactorAfterThem) {
  fake_.Hold();
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->ModelStreamInfer(&context);
  for (const char* id : {"1", "2", "3"}) ASSERT_TRUE(stream->Write(Request(id)));
  ASSERT_TRUE(fake_.WaitForBatches(1));
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(LiveStreamReactors(), 1) << "the held requests still refer to the reactor";
  fake_.Release();
  EXPECT_TRUE(Settled(1, 3)) << LiveStreamReactors() << " reactors, " << Finished() << " finished";
}

// The client reads one answer and goes away while many more are ready to be written: the
// writes fail, nothing more is written, every request finishes once, the reactor is freed, and
// the server serves the next stream.
TEST_F(KServeStreamTest, AClientThatGoesAwayMidStreamLosesNothingElse) {
  constexpr int kRequests = 50;
  {
    grpc::ClientContext context;
    std::unique_ptr<Stream> stream = stub_->ModelStreamInfer(&context);
    for (int i = 0; i < kRequests; ++i) ASSERT_TRUE(stream->Write(Request(std::to_string(i))));
    inference::ModelStreamInferResponse response;
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.infer_response().id(), "0");
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(Settled(1, kRequests)) << LiveStreamReactors() << " reactors, " << Finished() << " finished";

  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub_->ModelStreamInfer(&context);
  ASSERT_TRUE(stream->Write(Request("next")));
  ASSERT_TRUE(stream->WritesDone());
  inference::ModelStreamInferResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.infer_response().id(), "next");
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace seqserve
