// KServeRest::Handle and KServeInfo in-process: the REST port's routes, statuses and bodies,
// answered through HttpReply::ToCallback on a FakeRepository (no sockets, no libtorch). The
// same routes over a real port are tests/python/test_rest.py.
#include "server/api/kserve_rest.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "server/api/kserve_info.h"
#include "server/observability/request_metrics.h"
#include "server/serving/readiness.h"
#include "server/serving/request_path.h"
#include "server/serving/serving_state.h"
#include "tests/testing/fake_repository.h"

namespace seqserve {
namespace {

class KServeRestTest : public testing::Test {
 protected:
  // One request through Handle; waits (at most 10 s) for its answer.
  HttpResponse Call(absl::string_view method, absl::string_view path, std::string body = "",
                    HttpRequest::HeaderList headers = {}) {
    auto answered = std::make_shared<absl::Notification>();
    auto response = std::make_shared<HttpResponse>();
    RequestMemory::Charge charge;
    rest_.Handle(HttpRequest(&headers, method, path, &body, &charge, std::make_shared<CancellationFlag>()),
                 HttpReply::ToCallback([answered, response](HttpResponse r) {
                   *response = std::move(r);
                   answered->Notify();
                 }));
    EXPECT_TRUE(answered->WaitForNotificationWithTimeout(absl::Seconds(10))) << method << " " << path;
    return *response;
  }

  FakeRepository fake_;
  ServingState state_;
  RequestMetrics metrics_{fake_.repository().ModelNames()};
  RequestPath path_{fake_.repository(), state_, metrics_};
  Readiness readiness_{fake_.repository(), state_, /*strict=*/true};
  RepositoryControl control_{fake_.repository()};
  KServeRest rest_{path_, readiness_, &control_};
};

TEST_F(KServeRestTest, InferAnswersTheModelsOutputsAsJsonAndCountsTheRequest) {
  HttpResponse r = Call("POST", "/v2/models/echo/infer",
                        R"({"id":"a1","inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1.5,-2]}]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find(R"("id":"a1")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("model_name":"echo")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("name":"y")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("shape":[1,2],"data":[1.5,-2])"), std::string::npos) << r.body;
  EXPECT_EQ(metrics_.Total(absl::StatusCode::kOk), 1u);
}

TEST_F(KServeRestTest, DecodeErrorsAre400AndCountedLikeGrpcs) {
  HttpResponse r = Call("POST", "/v2/models/echo/infer", R"({"inputs": [)");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("error")"), std::string::npos) << r.body;
  r = Call("POST", "/v2/models/echo/versions/x/infer", R"({"inputs":[]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(metrics_.Total(absl::StatusCode::kInvalidArgument), 2u);
}

TEST_F(KServeRestTest, RoutesAnswerWithTheirStatuses) {
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/echo/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/models/nope/ready").status, 503);  // unknown: simply not ready, as in Triton
  EXPECT_EQ(Call("GET", "/v2/models/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v2/no/such/route").status, 404);
  HttpResponse r = Call("DELETE", "/v2/models/echo/infer");
  EXPECT_EQ(r.status, 405);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");

  r = Call("GET", "/v2/models/echo");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("name":"echo")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("versions":["1"])"), std::string::npos) << r.body;
  r = Call("POST", "/v2/repository/index", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find(R"("state":"READY")"), std::string::npos) << r.body;
}

TEST_F(KServeRestTest, DrainingMakesTheServerUnreadyAndRefusesInference) {
  state_.StartDraining();
  EXPECT_EQ(Call("GET", "/v2/health/ready").status, 503);
  EXPECT_EQ(Call("GET", "/v2/health/live").status, 200);
  HttpResponse r = Call("POST", "/v2/models/echo/infer",
                        R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1,2]}]})");
  EXPECT_EQ(r.status, 503) << r.body;
}

// The repository here is in model control mode "none" (RepositoryControlTest covers explicit mode):
// load and unload are refused with what to do; without a RepositoryControl they are 501.
TEST_F(KServeRestTest, ModelControlIsRefusedWithWhatToDo) {
  HttpResponse r = Call("POST", "/v2/repository/models/echo/unload", "{}");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("--model-control-mode=explicit"), std::string::npos) << r.body;
  EXPECT_EQ(Call("GET", "/v2/models/echo/ready").status, 200);
  EXPECT_EQ(Call("GET", "/v2/repository/models/echo/load").status, 405);

  KServeRest without_control(path_, readiness_);
  std::string body = "{}";
  RequestMemory::Charge charge;
  HttpRequest::HeaderList headers;
  HttpResponse answer;
  without_control.Handle(HttpRequest(&headers, "POST", "/v2/repository/models/echo/load", &body, &charge,
                                     std::make_shared<CancellationFlag>()),
                         HttpReply::ToCallback([&answer](HttpResponse response) { answer = std::move(response); }));
  EXPECT_EQ(answer.status, 501) << answer.body;
}

// KServeInfo directly: the messages both transports print.
TEST_F(KServeRestTest, InfoDescribesTheModelAndRefusesBadVersions) {
  KServeInfo info(fake_.repository(), readiness_);
  inference::ModelMetadataResponse metadata;
  ASSERT_TRUE(info.ModelMetadata("echo", "", &metadata).ok());
  EXPECT_EQ(metadata.name(), "echo");
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "x");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  ASSERT_EQ(metadata.outputs_size(), 1);
  EXPECT_EQ(metadata.outputs(0).name(), "y");
  EXPECT_EQ(info.ModelMetadata("echo", "0", &metadata).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.ModelMetadata("echo", "7", &metadata).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(info.ModelMetadata("nope", "", &metadata).code(), absl::StatusCode::kNotFound);

  EXPECT_TRUE(*info.ModelReady("echo", "1"));
  EXPECT_FALSE(*info.ModelReady("echo", "2"));
  EXPECT_FALSE(*info.ModelReady("nope", ""));

  inference::ModelConfigResponse config;
  ASSERT_TRUE(info.ModelConfig("echo", &config).ok());
  EXPECT_EQ(config.config().max_batch_size(), 8);
  inference::RepositoryIndexResponse index;
  info.RepositoryIndex(/*ready_only=*/true, &index);
  ASSERT_EQ(index.models_size(), 1);
  EXPECT_EQ(index.models(0).name(), "echo");
  EXPECT_EQ(index.models(0).state(), "READY");
}

}  // namespace
}  // namespace seqserve
