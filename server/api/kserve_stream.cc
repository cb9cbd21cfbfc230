#include "server/api/kserve_stream.h"

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "memory/mutex.h"
#include "server/api/grpc_call.h"
#include "server/api/kserve_codec.h"

namespace seqserve {
namespace {

std::atomic<int> live_reactors{0};

class StreamReactor final : public StreamReactorBase {
 public:
  StreamReactor(grpc::CallbackServerContext* context, RequestPath& path)
      : context_(context), path_(path), cancel_(std::make_shared<CancellationFlag>()) {
    live_reactors.fetch_add(1);
    StartRead(&incoming_);
  }
  ~StreamReactor() override { live_reactors.fetch_sub(1); }

  void OnReadDone(bool ok) override {
    mu_.Lock();
    if (!ok || broken_) {
      reads_done_ = true;
      Advance();
      return;
    }
    auto slot = std::make_shared<Slot>();
    slot->request = std::move(incoming_);
    incoming_.Clear();
    slots_.push_back(slot);
    ++pending_;
    mu_.Unlock();
    Submit(slot);
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    mu_.Lock();
    writing_ = false;
    slots_.pop_front();
    if (!ok) broken_ = true;
    Advance();
  }

  void OnCancel() override {
    cancel_->Cancel();
    mu_.Lock();
    broken_ = true;
    Advance();
  }

  void OnDone() override {
    bool last;
    {
      MutexLock lock(&mu_);
      done_ = true;
      last = pending_ == 0;
    }
    if (last) delete this;
  }

 private:
  struct Slot {
    inference::ModelInferRequest request;
    inference::ModelStreamInferResponse response;
    bool complete = false;  // guarded by the reactor's mu_ once submitted
  };

  void Submit(const std::shared_ptr<Slot>& slot) {
    path_.Start(
        GrpcCall(Api::kKServe, context_, slot->request.model_name(), cancel_, slot->request), FromKServe(slot->request),
        [slot](InferenceResponse& result) {
          ToKServe(slot->request, result, slot->response.mutable_infer_response());
          return absl::OkStatus();
        },
        [this, slot](const absl::Status& status) { Complete(*slot, status); });
  }

  // Runs once per request, on whichever thread finished it.
  void Complete(Slot& slot, const absl::Status& status) {
    mu_.Lock();
    if (!status.ok()) {
      slot.response.Clear();
      slot.response.set_error_message(std::string(status.message()));
      slot.response.mutable_infer_response()->set_id(slot.request.id());
    }
    slot.complete = true;
    --pending_;
    if (done_ && pending_ == 0) {  // the call already ended (it was cancelled)
      mu_.Unlock();
      delete this;
      return;
    }
    Advance();
  }

  // Starts the next write, or finishes the call, as the state allows. Called with mu_ held;
  // releases it before calling into gRPC (which may run reactions inline).
  void Advance() ABSL_UNLOCK_FUNCTION(mu_) {
    if (broken_) {
      while (!writing_ && !slots_.empty() && slots_.front()->complete) slots_.pop_front();
    }
    inference::ModelStreamInferResponse* to_write = nullptr;
    if (!broken_ && !writing_ && !slots_.empty() && slots_.front()->complete) {
      writing_ = true;
      to_write = &slots_.front()->response;
    }
    const bool finish = !finished_ && !writing_ && pending_ == 0 && (broken_ || (reads_done_ && slots_.empty()));
    if (finish) finished_ = true;
    const bool cancelled = broken_;
    mu_.Unlock();
    if (to_write != nullptr) StartWrite(to_write);
    if (finish) Finish(cancelled ? grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled") : grpc::Status::OK);
  }

  grpc::CallbackServerContext* const context_;
  RequestPath& path_;
  const std::shared_ptr<CancellationFlag> cancel_;
  inference::ModelInferRequest incoming_;  // only touched by the read chain

  Mutex mu_;
  std::deque<std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);  // in request order; front is next to write
  int pending_ ABSL_GUARDED_BY(mu_) = 0;                          // submitted, not yet complete
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // cancelled or a write failed: stop writing
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

StreamReactorBase* NewStreamReactor(grpc::CallbackServerContext* context, RequestPath& path) {
  return new StreamReactor(context, path);
}

int LiveStreamReactors() { return live_reactors.load(); }

}  // namespace seqserve
