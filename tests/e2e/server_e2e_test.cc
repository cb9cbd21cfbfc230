// End-to-end tests: the real seqserve binary on 127.0.0.1, called through the generated stubs
// of both APIs (seqserve.v1 and KServe v2), checked against Python reference values.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "inference/grpc_service.grpc.pb.h"
#include "runtime/config/model_config.h"
#include "seqserve/v1/predict.grpc.pb.h"
#include "server/api/tensor_codec.h"
#include "tests/e2e/server_process.h"
#include "tests/testing/reference.h"

namespace seqserve {
namespace {

namespace fs = std::filesystem;
using testing::ServerProcess;

// The demo models these tests use, encoder and linear, linked from the built repository: its
// real models (MiniLM, TorchScript and .pt2) would add seconds of loading to every server here,
// and tests/python covers them.
const std::string kRepo = SEQSERVE_DEMO_REPOSITORY;

class DemoOnly {
 public:
  DemoOnly() : dir_(testing::MakeTempDir("seqserve_demo_")) {
    for (const char* model : {"encoder", "linear"}) {
      fs::create_directory_symlink(fs::path(kRepo) / model, fs::path(dir_) / model);
    }
  }
  ~DemoOnly() { fs::remove_all(dir_); }  // the links, not what they point to
  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
};

const std::string& DemoRepository() {
  static const DemoOnly demo;
  return demo.dir();
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

v1::PredictRequest PredictFor(const std::string& model, const std::vector<Tensor>& inputs) {
  v1::PredictRequest request;
  request.set_model_name(model);
  for (Tensor t : inputs) ToWire(std::move(t), request.add_inputs());
  return request;
}

// An owned copy (FromWire borrows from the message).
Tensor ToTensor(const v1::Tensor& wire) {
  absl::StatusOr<Tensor> t = FromWire(wire);
  if (!t.ok()) return Tensor{};
  t->data = std::string(t->bytes());
  t->borrowed = {};
  return *t;
}

std::vector<Tensor> EncoderInputs(int64_t rows, int64_t length, uint32_t seed) {
  std::mt19937 rng(seed);
  Tensor ids{"input_ids", DataType::kInt64, {rows, length}, std::string(rows * length * 8, '\0')};
  Tensor mask{"attention_mask", DataType::kInt64, {rows, length}, std::string(rows * length * 8, '\0')};
  for (int64_t i = 0; i < rows * length; ++i) {
    const int64_t id = std::uniform_int_distribution<int64_t>(0, 999)(rng), one = 1;
    std::memcpy(ids.data.data() + 8 * i, &id, 8);
    std::memcpy(mask.data.data() + 8 * i, &one, 8);
  }
  return {ids, mask};
}

// One server on the demo repository for the whole suite (loading and warm-up take seconds).
class ServerE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = ServerProcess::Start(DemoRepository()).release();
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(server_->WaitForServing()) << server_->Log();
    references_ = new auto(testing::LoadReference(SEQSERVE_DEMO_REFERENCE));
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(SIGTERM), 0) << server_->Log();
    }
    delete server_;
    delete references_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    predict_ = v1::PredictionService::NewStub(server_->Channel());
    kserve_ = inference::GRPCInferenceService::NewStub(server_->Channel());
  }

  grpc::Status Predict(const v1::PredictRequest& request, v1::PredictResponse* response) {
    return predict_->Predict(Context().get(), request, response);
  }

  // A valid request must still work (the server survived whatever came before).
  void ExpectStillServing() {
    v1::PredictResponse response;
    grpc::Status status = Predict(PredictFor("encoder", EncoderInputs(1, 4, 1)), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  static ServerProcess* server_;
  static std::map<std::string, testing::ReferenceCase>* references_;
  std::unique_ptr<v1::PredictionService::Stub> predict_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> kserve_;
};
ServerProcess* ServerE2ETest::server_ = nullptr;
std::map<std::string, testing::ReferenceCase>* ServerE2ETest::references_ = nullptr;

TEST_F(ServerE2ETest, PredictMatchesPythonReference) {
  ASSERT_GE(references_->size(), 6u);
  for (const auto& [name, c] : *references_) {
    v1::PredictRequest request = PredictFor(c.model, c.inputs);
    request.set_id(name);
    v1::PredictResponse response;
    grpc::Status status = Predict(request, &response);
    ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
    EXPECT_EQ(response.id(), name);
    EXPECT_EQ(response.model_version(), 1);
    ASSERT_EQ(response.outputs_size(), static_cast<int>(c.outputs.size())) << name;
    for (size_t k = 0; k < c.outputs.size(); ++k) {
      EXPECT_LE(testing::MaxAbsDiff(ToTensor(response.outputs(k)), c.outputs[k]), 1e-4)
          << name << " output " << c.outputs[k].name;
    }
  }
}

TEST_F(ServerE2ETest, OutputFilterReturnsOnlyRequestedOutputs) {
  v1::PredictRequest request = PredictFor("encoder", EncoderInputs(2, 9, 3));
  request.add_output_filter("token_scores");
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(request, &response).ok());
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "token_scores");
  EXPECT_EQ(response.outputs(0).shape(1), 9);
}

struct BadCase {
  std::string what;
  std::function<void(v1::PredictRequest&)> mutate;
  grpc::StatusCode code;
  std::string fragment;
};

TEST_F(ServerE2ETest, BadInputGetsAPreciseStatusAndTheServerKeepsServing) {
  const std::vector<BadCase> cases = {
      {"unknown model", [](v1::PredictRequest& r) { r.set_model_name("nope"); }, grpc::NOT_FOUND,
       "unknown model 'nope'"},
      {"unknown version", [](v1::PredictRequest& r) { r.set_model_version(7); }, grpc::NOT_FOUND, "has no version 7"},
      {"missing input", [](v1::PredictRequest& r) { r.mutable_inputs()->RemoveLast(); }, grpc::INVALID_ARGUMENT,
       "missing input 'attention_mask'"},
      {"extra input",
       [](v1::PredictRequest& r) {
         *r.add_inputs() = r.inputs(0);
         r.mutable_inputs(2)->set_name("x");
       },
       grpc::INVALID_ARGUMENT, "unknown input 'x'"},
      {"duplicate input", [](v1::PredictRequest& r) { *r.add_inputs() = r.inputs(0); }, grpc::INVALID_ARGUMENT,
       "more than once"},
      {"wrong dtype",
       [](v1::PredictRequest& r) {
         r.mutable_inputs(0)->set_dtype(v1::INT32);
         r.mutable_inputs(0)->mutable_data()->resize(20);
       },
       grpc::INVALID_ARGUMENT, "datatype INT32"},
      {"no dtype", [](v1::PredictRequest& r) { r.mutable_inputs(0)->set_dtype(v1::DATA_TYPE_UNSPECIFIED); },
       grpc::INVALID_ARGUMENT, "no dtype"},
      {"wrong rank", [](v1::PredictRequest& r) { r.mutable_inputs(0)->mutable_shape()->RemoveLast(); },
       grpc::INVALID_ARGUMENT, "rank"},
      {"byte size", [](v1::PredictRequest& r) { r.mutable_inputs(1)->mutable_data()->resize(7); },
       grpc::INVALID_ARGUMENT, "bytes of data"},
      {"too long",
       [](v1::PredictRequest& r) {
         for (int i = 0; i < 2; ++i) {
           r.mutable_inputs(i)->set_shape(1, 513);
           r.mutable_inputs(i)->mutable_data()->resize(513 * 8);
         }
       },
       grpc::INVALID_ARGUMENT, "exceeds model 'encoder' maximum of 512"},
      {"empty",
       [](v1::PredictRequest& r) {
         for (int i = 0; i < 2; ++i) {
           r.mutable_inputs(i)->set_shape(1, 0);
           r.mutable_inputs(i)->clear_data();
         }
       },
       grpc::INVALID_ARGUMENT, "is empty"},
      {"negative dim", [](v1::PredictRequest& r) { r.mutable_inputs(0)->set_shape(1, -5); }, grpc::INVALID_ARGUMENT,
       "negative dimension"},
      {"unknown output", [](v1::PredictRequest& r) { r.add_output_filter("hidden"); }, grpc::INVALID_ARGUMENT,
       "unknown output 'hidden'"},
      {"text and tensors", [](v1::PredictRequest& r) { r.add_texts("hello"); }, grpc::INVALID_ARGUMENT,
       "send either texts or input tensors, not both"},
      {"text to a model without a tokenizer",
       [](v1::PredictRequest& r) {
         r.clear_inputs();
         r.add_texts("hello");
       },
       grpc::FAILED_PRECONDITION, "takes token ids, not text: it was packed without a tokenizer"},
  };
  for (const BadCase& c : cases) {
    v1::PredictRequest request = PredictFor("encoder", EncoderInputs(1, 5, 2));
    c.mutate(request);
    v1::PredictResponse response;
    grpc::Status status = Predict(request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    EXPECT_NE(status.error_message().find(c.fragment), std::string::npos) << c.what << ": " << status.error_message();
    ExpectStillServing();
  }
}

TEST_F(ServerE2ETest, MetadataDescribesModelsAndServer) {
  v1::ModelMetadataRequest request;
  request.set_model_name("encoder");
  v1::ModelMetadataResponse response;
  ASSERT_TRUE(predict_->ModelMetadata(Context().get(), request, &response).ok());
  EXPECT_TRUE(response.ready());
  EXPECT_EQ(response.model_version(), 1);
  EXPECT_EQ(response.max_sequence_length(), 512);
  ASSERT_EQ(response.inputs_size(), 2);
  EXPECT_EQ(response.inputs(0).name(), "input_ids");
  EXPECT_EQ(response.inputs(0).dtype(), v1::INT64);
  EXPECT_TRUE(response.inputs(0).has_sequence_dim());
  ASSERT_EQ(response.versions_size(), 1);
  EXPECT_EQ(response.versions(0).state(), "READY");

  request.set_model_name("nope");
  EXPECT_EQ(predict_->ModelMetadata(Context().get(), request, &response).error_code(), grpc::NOT_FOUND);

  v1::ServerMetadataResponse server;
  ASSERT_TRUE(predict_->ServerMetadata(Context().get(), {}, &server).ok());
  EXPECT_EQ(server.name(), "seqserve");
  EXPECT_TRUE(server.ready());
  EXPECT_EQ(server.torch_version().rfind("2.11", 0), 0u) << server.torch_version();
  std::vector<std::string> names;
  for (const std::string& m : server.models()) names.push_back(m);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"encoder", "linear"}));
}

TEST_F(ServerE2ETest, HealthServesOverallAndPerModel) {
  EXPECT_EQ(server_->HealthStatus(""), "SERVING");
  EXPECT_EQ(server_->HealthStatus("encoder"), "SERVING");
  EXPECT_EQ(server_->HealthStatus("linear"), "SERVING");
}

TEST_F(ServerE2ETest, ConcurrentRequestsGetTheirOwnAnswers) {
  // Each request's answer must equal the answer it gets alone (computed first, sequentially).
  constexpr int kRequests = 24;
  std::vector<std::vector<Tensor>> inputs;
  std::vector<v1::PredictResponse> alone(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    inputs.push_back(EncoderInputs(1 + i % 2, 1 + (i * 37) % 80, 100 + i));
    ASSERT_TRUE(Predict(PredictFor("encoder", inputs[i]), &alone[i]).ok());
  }
  std::vector<v1::PredictResponse> together(kRequests);
  std::vector<grpc::Status> statuses(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      auto stub = v1::PredictionService::NewStub(server_->Channel());
      statuses[i] = stub->Predict(Context().get(), PredictFor("encoder", inputs[i]), &together[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    for (int k = 0; k < 2; ++k) {
      EXPECT_LE(testing::MaxAbsDiff(ToTensor(together[i].outputs(k)), ToTensor(alone[i].outputs(k))), 1e-5)
          << "request " << i << " output " << k;
    }
  }
}

TEST_F(ServerE2ETest, KServeModelInferMatchesReference) {
  const testing::ReferenceCase& c = references_->at("enc_3x33");
  inference::ModelInferRequest request;
  request.set_model_name("encoder");
  request.set_id("kserve-1");
  for (const Tensor& t : c.inputs) {
    auto* in = request.add_inputs();
    in->set_name(t.name);
    in->set_datatype("INT64");
    for (int64_t d : t.shape) in->add_shape(d);
    request.add_raw_input_contents(t.data);
  }
  inference::ModelInferResponse response;
  grpc::Status status = kserve_->ModelInfer(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.id(), "kserve-1");
  EXPECT_EQ(response.model_version(), "1");
  ASSERT_EQ(response.outputs_size(), 2);
  for (int k = 0; k < 2; ++k) {
    Tensor got{response.outputs(k).name(),
               DataType::kFp32,
               {response.outputs(k).shape().begin(), response.outputs(k).shape().end()},
               response.raw_output_contents(k)};
    EXPECT_LE(testing::MaxAbsDiff(got, c.outputs[k]), 1e-4) << got.name;
  }
}

TEST_F(ServerE2ETest, KServeStreamAnswersInOrderAndSurvivesBadRequests) {
  auto context = Context();
  auto stream = kserve_->ModelStreamInfer(context.get());
  const std::vector<int64_t> lengths = {30, 3, -1, 12};  // -1: a bad request
  for (size_t i = 0; i < lengths.size(); ++i) {
    inference::ModelInferRequest request;
    request.set_model_name(lengths[i] < 0 ? "nope" : "encoder");
    request.set_id(absl::StrCat("s", i));
    for (const Tensor& t : EncoderInputs(1, lengths[i] < 0 ? 2 : lengths[i], i)) {
      auto* in = request.add_inputs();
      in->set_name(t.name);
      in->set_datatype("INT64");
      for (int64_t d : t.shape) in->add_shape(d);
      request.add_raw_input_contents(t.data);
    }
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  inference::ModelStreamInferResponse response;
  for (size_t i = 0; i < lengths.size(); ++i) {
    ASSERT_TRUE(stream->Read(&response)) << i;
    EXPECT_EQ(response.infer_response().id(), absl::StrCat("s", i));
    if (lengths[i] < 0) {
      EXPECT_NE(response.error_message().find("unknown model 'nope'"), std::string::npos) << response.error_message();
    } else {
      EXPECT_TRUE(response.error_message().empty()) << response.error_message();
      EXPECT_EQ(response.infer_response().outputs(1).shape(1), lengths[i]);
    }
  }
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

// A repository with one broken model next to a good one.
std::string RepositoryWithABrokenModel() {
  const std::string repo = testing::MakeTempDir("seqserve_repo_");
  fs::copy(kRepo + "/linear", repo + "/linear", fs::copy_options::recursive);
  fs::create_directories(repo + "/broken/1");
  fs::copy_file(kRepo + "/linear/config.pbtxt", repo + "/broken/config.pbtxt");
  {
    std::ifstream in(repo + "/broken/config.pbtxt");
    std::stringstream text;
    text << in.rdbuf();
    std::string config = text.str();
    config.replace(config.find("\"linear\""), 8, "\"broken\"");
    std::ofstream(repo + "/broken/config.pbtxt") << config;
  }
  std::ofstream(repo + "/broken/1/model.pt") << "not a TorchScript archive";
  return repo;
}

// What each of the four interfaces that report readiness says, once loading is over.
struct ReadinessViews {
  std::string health;     // grpc.health.v1, overall
  bool kserve = false;    // KServe ServerReady
  bool seqserve = false;  // seqserve ServerMetadata.ready
  int readyz = 0;         // HTTP /readyz status
};

ReadinessViews ReadinessOf(const ServerProcess& server) {
  ReadinessViews views;
  views.health = server.HealthStatus("");
  inference::ServerReadyResponse kserve;
  EXPECT_TRUE(
      inference::GRPCInferenceService::NewStub(server.Channel())->ServerReady(Context().get(), {}, &kserve).ok());
  views.kserve = kserve.ready();
  v1::ServerMetadataResponse metadata;
  EXPECT_TRUE(v1::PredictionService::NewStub(server.Channel())->ServerMetadata(Context().get(), {}, &metadata).ok());
  views.seqserve = metadata.ready();
  views.readyz = server.HttpStatus("/readyz");
  return views;
}

// The good model serves, the broken one is unavailable with its reason, and every interface
// gives the same answer about readiness, which follows --strict-readiness.
TEST(ServerRepositoryE2ETest, BrokenModelIsUnavailableWithReasonWhileOthersServe) {
  const std::string repo = RepositoryWithABrokenModel();
  auto server = ServerProcess::Start(repo, {"--strict-readiness=false"});
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->WaitForServing("linear")) << server->Log();
  ASSERT_TRUE(server->WaitForLog("loading finished")) << server->Log();  // every view is final
  const ReadinessViews lax = ReadinessOf(*server);
  EXPECT_EQ(lax.health, "SERVING");
  EXPECT_TRUE(lax.kserve);
  EXPECT_TRUE(lax.seqserve);
  EXPECT_EQ(lax.readyz, 200);
  EXPECT_EQ(server->HealthStatus("broken"), "NOT_SERVING");
  auto kserve = inference::GRPCInferenceService::NewStub(server->Channel());
  for (const auto& [model, ready] : std::vector<std::pair<std::string, bool>>{{"broken", false}, {"linear", true}}) {
    inference::ModelReadyRequest ask;
    ask.set_name(model);
    inference::ModelReadyResponse answer;
    ASSERT_TRUE(kserve->ModelReady(Context().get(), ask, &answer).ok());
    EXPECT_EQ(answer.ready(), ready) << model;
  }

  auto stub = v1::PredictionService::NewStub(server->Channel());
  v1::ModelMetadataRequest request;
  request.set_model_name("broken");
  v1::ModelMetadataResponse metadata;
  ASSERT_TRUE(stub->ModelMetadata(Context().get(), request, &metadata).ok());
  EXPECT_FALSE(metadata.ready());
  ASSERT_EQ(metadata.versions_size(), 1);
  EXPECT_EQ(metadata.versions(0).state(), "UNAVAILABLE");
  EXPECT_NE(metadata.versions(0).reason().find("cannot load TorchScript"), std::string::npos)
      << metadata.versions(0).reason();

  Tensor x{"input", DataType::kFp32, {1, 1000}, std::string(4000, '\0')};
  v1::PredictResponse response;
  EXPECT_EQ(stub->Predict(Context().get(), PredictFor("broken", {x}), &response).error_code(), grpc::UNAVAILABLE);
  EXPECT_TRUE(stub->Predict(Context().get(), PredictFor("linear", {x}), &response).ok());
  EXPECT_NE(server->Log().find("model 'broken' version 1 is unavailable"), std::string::npos);
  EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Log();

  // Strict (the default): the same repository is not ready, on every interface alike.
  auto strict = ServerProcess::Start(repo);
  ASSERT_NE(strict, nullptr);
  ASSERT_TRUE(strict->WaitForServing("linear")) << strict->Log();
  ASSERT_TRUE(strict->WaitForLog("loading finished")) << strict->Log();
  const ReadinessViews views = ReadinessOf(*strict);
  EXPECT_EQ(views.health, "NOT_SERVING");
  EXPECT_FALSE(views.kserve);
  EXPECT_FALSE(views.seqserve);
  EXPECT_EQ(views.readyz, 503);
  EXPECT_EQ(strict->Stop(SIGTERM), 0) << strict->Log();
}

// SIGTERM while a model warms up: loading stops after the warm-up batch in progress, and the
// process exits 0 well within --drain-timeout instead of finishing every warm-up first.
TEST(ServerRepositoryE2ETest, SigtermDuringWarmUpExitsZeroWithinTheDrainTimeout) {
  const std::string repo = testing::MakeTempDir("seqserve_slow_");
  fs::copy(kRepo + "/encoder", repo + "/encoder", fs::copy_options::recursive);
  // Thousands of 512-token batches: minutes of warm-up on any CPU.
  std::ofstream(repo + "/encoder/config.pbtxt", std::ios::app) << "\nwarmup { lengths: [512] iterations: 1000 }\n";
  auto server = ServerProcess::Start(repo, {"--drain-timeout=10"});
  ASSERT_NE(server, nullptr);
  // Once the load has begun, the abort can only land in the load or the warm-up.
  ASSERT_TRUE(server->WaitForLog("loading model 'encoder' version 1")) << server->Log();
  ASSERT_EQ(server->HealthStatus(""), "NOT_SERVING") << "still warming up";
  const absl::Time signalled = absl::Now();
  EXPECT_EQ(server->Stop(SIGTERM, absl::Seconds(60)), 0) << server->Log();
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(10)) << server->Log();
  const std::string log = server->Log();
  EXPECT_NE(log.find("warm-up stopped: the server is shutting down"), std::string::npos) << log;
  EXPECT_EQ(log.find("is ready"), std::string::npos) << log;
}

// "::" listens on IPv6 and IPv4 alike; a host name works too.
TEST(ServerRepositoryE2ETest, ListensOnIpv6AndHostNames) {
  const int probe = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  const bool has_ipv6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&loopback), sizeof(loopback)) == 0;
  if (probe >= 0) close(probe);
  if (!has_ipv6) GTEST_SKIP() << "this machine cannot bind ::1";
  for (const std::string address : {"::", "localhost"}) {
    auto server = ServerProcess::Start(DemoRepository(), {"--grpc-address=" + address});
    ASSERT_NE(server, nullptr) << address;
    const std::string port = std::to_string(server->grpc_port());
    std::vector<std::string> targets = {"localhost:" + port};
    if (address == "::") targets = {"[::1]:" + port, "127.0.0.1:" + port};
    for (const std::string& target : targets) {
      auto stub = v1::PredictionService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      v1::ServerMetadataResponse metadata;
      grpc::Status status = stub->ServerMetadata(Context().get(), {}, &metadata);
      EXPECT_TRUE(status.ok()) << address << " via " << target << ": " << status.error_message();
      EXPECT_EQ(metadata.name(), "seqserve");
    }
    EXPECT_NE(server->HttpStatus("/healthz"), -1) << "metrics follow the gRPC address";
    EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Log();
  }
}

// Readiness is NOT_SERVING while models warm up, then SERVING; liveness answers throughout.
TEST(ServerRepositoryE2ETest, HealthFlipsToServingAfterWarmUp) {
  const std::string repo = testing::MakeTempDir("seqserve_slow_");
  fs::copy(kRepo + "/encoder", repo + "/encoder", fs::copy_options::recursive);
  // A long warm-up (about 14 s on a 2-core EPYC), so the window before SERVING is wide enough
  // to observe on a CPU several times faster.
  std::ofstream(repo + "/encoder/config.pbtxt", std::ios::app) << "\nwarmup { lengths: [512] iterations: 60 }\n";
  auto server = ServerProcess::Start(repo);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->HealthStatus(""), "NOT_SERVING");
  auto kserve = inference::GRPCInferenceService::NewStub(server->Channel());
  inference::ServerLiveResponse live;
  ASSERT_TRUE(kserve->ServerLive(Context().get(), {}, &live).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(kserve->ServerReady(Context().get(), {}, &ready).ok());
  EXPECT_FALSE(ready.ready());
  EXPECT_TRUE(server->WaitForServing("")) << server->Log();
  ASSERT_TRUE(kserve->ServerReady(Context().get(), {}, &ready).ok());
  EXPECT_TRUE(ready.ready());
  EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Log();
}

}  // namespace
}  // namespace seqserve
