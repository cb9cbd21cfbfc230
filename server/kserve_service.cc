#include "server/kserve_service.h"

#include <deque>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc_call.h"
#include "server/grpc_status.h"
#include "server/kserve_codec.h"

namespace seqserve {
namespace {

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// ModelStreamInfer: requests are read one after another and submitted as they arrive; responses
// are written in request order, each as soon as it and all before it are complete. A bad request
// is answered with its error_message and the stream goes on. The reactor finishes when the
// client has stopped writing and every response is written (or the call was cancelled), and
// deletes itself only after every runtime callback has run.
class StreamReactor final
    : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  StreamReactor(grpc::CallbackServerContext* context, RequestPath& path)
      : context_(context), path_(path),
        cancel_(std::make_shared<CancellationFlag>()) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!ok || broken_) {
      reads_done_ = true;
      Advance(lock);
      return;
    }
    auto slot = std::make_shared<Slot>();
    slot->request = std::move(incoming_);
    incoming_.Clear();
    slots_.push_back(slot);
    ++pending_;
    lock.unlock();
    Submit(slot);
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    slots_.pop_front();
    if (!ok) broken_ = true;
    Advance(lock);
  }

  void OnCancel() override {
    cancel_->Cancel();
    std::unique_lock<std::mutex> lock(mu_);
    broken_ = true;
    Advance(lock);
  }

  void OnDone() override {
    std::unique_lock<std::mutex> lock(mu_);
    done_ = true;
    const bool last = pending_ == 0;
    lock.unlock();
    if (last) delete this;
  }

 private:
  struct Slot {
    inference::ModelInferRequest request;
    inference::ModelStreamInferResponse response;
    bool complete = false;
  };

  void Submit(const std::shared_ptr<Slot>& slot) {
    path_.Start(
        GrpcCall(Api::kKServe, context_, slot->request.model_name(), cancel_), FromKServe(slot->request),
        [slot](InferenceResponse& result) {
          ToKServe(slot->request, result, slot->response.mutable_infer_response());
          return absl::OkStatus();
        },
        [this, slot](const absl::Status& status) { Complete(*slot, status); });
  }

  // Runs once per request, on whichever thread finished it.
  void Complete(Slot& slot, const absl::Status& status) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!status.ok()) {
      slot.response.Clear();
      slot.response.set_error_message(std::string(status.message()));
      slot.response.mutable_infer_response()->set_id(slot.request.id());
    }
    slot.complete = true;
    --pending_;
    if (done_ && pending_ == 0) {  // the call already ended (it was cancelled)
      lock.unlock();
      delete this;
      return;
    }
    Advance(lock);
  }

  // Starts the next write, or finishes the call, as the state allows. Called with the lock
  // held; releases it before calling into gRPC (which may run reactions inline).
  void Advance(std::unique_lock<std::mutex>& lock) {
    if (broken_) {
      while (!writing_ && !slots_.empty() && slots_.front()->complete) slots_.pop_front();
    }
    inference::ModelStreamInferResponse* to_write = nullptr;
    if (!broken_ && !writing_ && !slots_.empty() && slots_.front()->complete) {
      writing_ = true;
      to_write = &slots_.front()->response;
    }
    const bool finish = !finished_ && !writing_ && pending_ == 0 &&
                        (broken_ || (reads_done_ && slots_.empty()));
    if (finish) finished_ = true;
    const bool cancelled = broken_;
    lock.unlock();
    if (to_write != nullptr) StartWrite(to_write);
    if (finish) Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled") : grpc::Status::OK);
  }

  grpc::CallbackServerContext* const context_;
  RequestPath& path_;
  const std::shared_ptr<CancellationFlag> cancel_;
  inference::ModelInferRequest incoming_;  // only touched by the read chain

  std::mutex mu_;
  std::deque<std::shared_ptr<Slot>> slots_;  // in request order; front is next to write
  int pending_ = 0;                          // submitted, not yet complete
  bool writing_ = false;
  bool reads_done_ = false;
  bool broken_ = false;  // cancelled or a write failed: stop writing
  bool finished_ = false;
  bool done_ = false;
};

}  // namespace


grpc::ServerUnaryReactor* KServeService::ServerLive(grpc::CallbackServerContext* context,
                                                    const inference::ServerLiveRequest*,
                                                    inference::ServerLiveResponse* response) {
  response->set_live(true);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ServerReady(grpc::CallbackServerContext* context,
                                                     const inference::ServerReadyRequest*,
                                                     inference::ServerReadyResponse* response) {
  response->set_ready(readiness_.ServerReady());
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelReady(grpc::CallbackServerContext* context,
                                                    const inference::ModelReadyRequest* request,
                                                    inference::ModelReadyResponse* response) {
  absl::StatusOr<bool> ready = info_.ModelReady(request->name(), request->version());
  if (ready.ok()) response->set_ready(*ready);
  return FinishNow(context, ready.status());
}

grpc::ServerUnaryReactor* KServeService::ServerMetadata(grpc::CallbackServerContext* context,
                                                        const inference::ServerMetadataRequest*,
                                                        inference::ServerMetadataResponse* response) {
  info_.ServerMetadata(response);
  return FinishNow(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* KServeService::ModelMetadata(grpc::CallbackServerContext* context,
                                                       const inference::ModelMetadataRequest* request,
                                                       inference::ModelMetadataResponse* response) {
  return FinishNow(context, info_.ModelMetadata(request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* KServeService::ModelInfer(grpc::CallbackServerContext* context,
                                                    const inference::ModelInferRequest* request,
                                                    inference::ModelInferResponse* response) {
  auto* reactor = new InferReactor();
  // The message outlives the request (Finish runs in its done callback): it may borrow.
  StartUnary(path_, Api::kKServe, context, reactor, request->model_name(), FromKServe(*request, InputBytes::kBorrow),
             [request, response](InferenceResponse& result) {
               ToKServe(*request, result, response);
               return absl::OkStatus();
             });
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
KServeService::ModelStreamInfer(grpc::CallbackServerContext* context) {
  return new StreamReactor(context, path_);
}

grpc::ServerUnaryReactor* KServeService::ModelConfig(grpc::CallbackServerContext* context,
                                                     const inference::ModelConfigRequest* request,
                                                     inference::ModelConfigResponse* response) {
  return FinishNow(context, info_.ModelConfig(request->name(), response));
}

grpc::ServerUnaryReactor* KServeService::ModelStatistics(grpc::CallbackServerContext* context,
                                                         const inference::ModelStatisticsRequest* request,
                                                         inference::ModelStatisticsResponse* response) {
  return FinishNow(context, info_.ModelStatistics(request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* KServeService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                         const inference::RepositoryIndexRequest* request,
                                                         inference::RepositoryIndexResponse* response) {
  info_.RepositoryIndex(request->ready(), response);
  return FinishNow(context, absl::OkStatus());
}

}  // namespace seqserve
