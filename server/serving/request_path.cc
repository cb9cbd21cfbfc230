#include "server/serving/request_path.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/execution/row_chunks.h"

namespace seqserve {

int64_t TextBytes(const TextInput& input) {
  int64_t bytes = 0;
  for (const std::string& t : input.texts) bytes += static_cast<int64_t>(t.size());
  for (const std::string& t : input.pairs) bytes += static_cast<int64_t>(t.size());
  return bytes;
}

bool RequestPath::Refused(const Finish& done, const absl::Status& decoded) const {
  if (state_.draining()) {
    done(absl::UnavailableError("server is draining (shutting down); retry on another replica"));
    return true;
  }
  if (!decoded.ok()) done(decoded);
  return !decoded.ok();
}

RequestPath::Finish RequestPath::Counted(RequestMetrics::Series* series, Finish finish) {
  const absl::Time received = absl::Now();
  metrics_.inflight().fetch_add(1, std::memory_order_relaxed);
  // Every outcome leaves through here: count it, then answer.
  return [this, series, received, finish = std::move(finish)](absl::Status status) {
    RequestMetrics::Record(*series, status.code(), absl::Now() - received);
    metrics_.inflight().fetch_sub(1, std::memory_order_relaxed);
    finish(std::move(status));
  };
}

void RequestPath::Start(CallInfo call, absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write,
                        std::function<void(absl::Status)> finish) {
  RequestMetrics::Series* series = &metrics_.SeriesFor(call.api, call.model_name);
  Finish done = Counted(series, std::move(finish));
  if (Refused(done, decoded.status())) return;
  std::unique_ptr<InferenceRequest> request = std::move(*decoded);
  if (!request->texts.empty()) {  // KServe text inputs
    TextCall text;
    text.model_name = std::move(request->model_name);
    text.model_version = request->model_version;
    text.id = std::move(request->id);
    text.input.texts = std::move(request->texts);
    text.input.pairs = std::move(request->text_pairs);
    text.requested_outputs = std::move(request->requested_outputs);
    text.deadline = request->deadline;
    RunText(
        call, *series, std::move(text),
        [write = std::move(write)](InferenceResponse& response, const TextResult&) { return write(response); },
        std::move(done));
    return;
  }
  // The message and the tensors decoded from it (those that do not borrow from it), held until
  // the call finishes: a request waiting in a queue keeps its bytes (Note [request bytes]).
  std::shared_ptr<RequestMemory::Charge> charge;
  if (limits_.memory != nullptr && call.message_bytes >= 0) {
    int64_t bytes = call.message_bytes;
    for (const Tensor& t : request->inputs) bytes += static_cast<int64_t>(t.data.size());
    charge = std::make_shared<RequestMemory::Charge>();
    if (absl::Status taken = limits_.memory->Take(bytes, "a request", *charge); !taken.ok()) {
      done(std::move(taken));
      return;
    }
  }
  if (limits_.max_elements > 0) {
    int64_t elements = 0;
    for (const Tensor& t : request->inputs) {
      if (absl::Status within = AddElements(t.shape, limits_.max_elements, elements); !within.ok()) {
        done(std::move(within));
        return;
      }
    }
  }
  request->deadline = std::min(request->deadline, call.deadline);
  if (request->deadline == absl::InfiniteFuture() && limits_.default_deadline > absl::ZeroDuration()) {
    request->deadline = absl::Now() + limits_.default_deadline;
  }
  request->cancel = std::move(call.cancel);
  request->done = [write = std::move(write), done,
                   charge = std::move(charge)](absl::StatusOr<InferenceResponse> result) {
    done(result.ok() ? write(*result) : result.status());
  };
  absl::Status status = repository_.router().Infer(request);
  if (!status.ok()) done(std::move(status));
}

void RequestPath::StartText(CallInfo call, absl::StatusOr<TextCall> decoded, TextResponseWriter write,
                            std::function<void(absl::Status)> finish) {
  RequestMetrics::Series* series = &metrics_.SeriesFor(call.api, call.model_name);
  Finish done = Counted(series, std::move(finish));
  if (Refused(done, decoded.status())) return;
  RunText(call, *series, *std::move(decoded), std::move(write), std::move(done));
}

void RequestPath::RunText(const CallInfo& call, RequestMetrics::Series& series, TextCall text, TextResponseWriter write,
                          Finish done) {
  absl::StatusOr<TextRoute> route = repository_.router().ResolveText(text.model_name, text.model_version);
  if (!route.ok()) return done(route.status());
  const TextModel& model = *route->model;
  if (text.task.has_value() && *text.task != model.task) {
    return done(absl::FailedPreconditionError(
        absl::StrCat("model '", text.model_name, "' is a", model.task == TextTask::kEmbedding ? "n " : " ",
                     TextTaskName(model.task), " model, not ", TextTaskName(*text.task))));
  }
  if (text.dimensions.has_value() && !model.AllowsDimensions(*text.dimensions)) {
    return done(absl::InvalidArgumentError(
        model.matryoshka_dimensions.empty()
            ? absl::StrCat("model '", text.model_name, "' gives ", model.width,
                           "-dimensional embeddings and was not trained to be shortened (its manifest lists no "
                           "Matryoshka dimensions); omit \"dimensions\" or send ",
                           model.width)
            : absl::StrCat("model '", text.model_name, "' can shorten its ", model.width, "-dimensional embeddings to ",
                           absl::StrJoin(model.matryoshka_dimensions, ", "), " dimensions, not ", *text.dimensions)));
  }
  const int64_t count = static_cast<int64_t>(text.input.size());
  if (count == 0) return done(absl::InvalidArgumentError("no input: send at least one text"));
  if (limits_.max_texts > 0 && count > limits_.max_texts) {
    return done(absl::InvalidArgumentError(absl::StrCat(count, " inputs in one request; this server takes at most ",
                                                        limits_.max_texts, " (--max-client-batch-size)")));
  }
  std::string prompt_name = text.prompt_name.value_or(model.default_prompt_name);
  if (!prompt_name.empty()) {
    auto prompt = model.prompts.find(prompt_name);
    if (prompt == model.prompts.end()) {
      std::vector<std::string> names;
      for (const auto& [name, value] : model.prompts) names.push_back(name);
      return done(absl::InvalidArgumentError(absl::StrCat(
          "model '", text.model_name, "' has no prompt '", prompt_name, "'",
          names.empty() ? std::string("; it has none") : absl::StrCat("; it has ", absl::StrJoin(names, ", ")))));
    }
    text.options.prompt = prompt->second;
  }
  text.options.truncate |= limits_.auto_truncate;

  const absl::Time tokenize_start = absl::Now();
  absl::StatusOr<EncodedTexts> encoded = EncodeTexts(model, text.input, text.options);
  series.tokenize_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - tokenize_start));
  if (!encoded.ok()) return done(encoded.status());
  series.text_tokens.Observe(static_cast<double>(encoded->total_tokens));
  series.text_requests[static_cast<size_t>(model.task)].fetch_add(1, std::memory_order_relaxed);

  // The token tensors, held until the call finishes (Note [request bytes]), and for gRPC the
  // message and the texts copied from it; REST transports charged their texts as they decoded
  // them (kserve_json.cc, text_rest.cc).
  auto charge = std::make_shared<RequestMemory::Charge>();
  if (limits_.memory != nullptr) {
    int64_t bytes = encoded->bytes;
    if (call.message_bytes >= 0) bytes += call.message_bytes + TextBytes(text.input);
    if (absl::Status taken = limits_.memory->Take(bytes, "a text request", *charge); !taken.ok()) {
      return done(std::move(taken));
    }
  }

  auto whole = std::make_unique<InferenceRequest>();
  whole->model_name = std::move(text.model_name);
  whole->model_version = route->version;  // every row runs on the version whose tokenizer made it
  whole->id = std::move(text.id);
  whole->requested_outputs = std::move(text.requested_outputs);
  whole->rows = count;
  whole->deadline = std::min(text.deadline, call.deadline);
  if (whole->deadline == absl::InfiniteFuture() && limits_.default_deadline > absl::ZeroDuration()) {
    whole->deadline = absl::Now() + limits_.default_deadline;
  }
  whole->cancel = call.cancel;
  auto result = std::make_shared<TextResult>();
  result->model = route->model;
  result->tokens = std::move(encoded->tokens);
  result->total_tokens = encoded->total_tokens;
  whole->done = [write = std::move(write), done, result, charge](absl::StatusOr<InferenceResponse> response) {
    done(response.ok() ? write(*response, *result) : response.status());
  };
  RowChunks rows = RowChunks::Join(std::move(whole), std::move(encoded->rows));
  // All rows are queued or none: a refused request leaves nothing behind in the queue.
  if (absl::Status queued = repository_.router().InferAll(rows.parts()); !queued.ok()) {
    std::unique_ptr<InferenceRequest> refused = rows.Abandon();
    refused->done(std::move(queued));
  }
}

}  // namespace seqserve
