#include "server/api/kserve_rest.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <rapidjson/document.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/api/kserve_json.h"
#include "server/api/kserve_request.h"
#include "server/api/proto_json.h"

namespace seqserve {
namespace {

HttpResponse Json(std::string body, int status = 200) { return {status, "application/json", std::move(body), {}}; }

HttpResponse Error(const absl::Status& status) {
  return JsonErrorResponse(HttpStatusFor(status.code()), status.message());
}

HttpResponse Bool(bool ok) { return {ok ? 200 : 503, "application/json", "", {}}; }

// A parsed /v2/models/... path: model, version text ("" = latest) and what is asked ("" =
// metadata, "ready", "config", "stats", "infer").
struct ModelRoute {
  std::string model;
  std::string version;
  std::string action;
};

// parts: the path's segments after "models".
std::optional<ModelRoute> ParseModelRoute(const std::vector<absl::string_view>& parts) {
  ModelRoute route;
  if (parts.empty() || parts[0].empty()) return std::nullopt;
  route.model = std::string(parts[0]);
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    route.version = std::string(parts[2]);
    next = 3;
  }
  if (parts.size() == next + 1) {
    route.action = std::string(parts[next]);
  } else if (parts.size() != next) {
    return std::nullopt;
  }
  if (route.action != "" && route.action != "ready" && route.action != "config" && route.action != "stats" &&
      route.action != "infer") {
    return std::nullopt;
  }
  return route;
}

// The data the runtime hands back, kept until the event loop encodes it.
struct PendingInfer {
  std::string model_name;
  std::string id;
  RestOutputFormat format;
  InferenceResponse result;
};

HttpResponse NotFound(absl::string_view path) {
  return JsonErrorResponse(404, absl::StrCat("no route ", path, "; see /v2 (KServe v2 REST)"));
}

HttpResponse MethodNotAllowed(absl::string_view allowed) {
  HttpResponse r = JsonErrorResponse(405, absl::StrCat("method not allowed here; use ", allowed));
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

void KServeRest::Handle(const HttpRequest& request, HttpReply reply) {
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  std::vector<absl::string_view> parts = absl::StrSplit(request.path, '/');
  // "/v2/models/m" -> ["", "v2", "models", "m"]; a trailing slash is ignored.
  if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
  if (parts.size() < 2 || !parts[0].empty() || parts[1] != "v2") return reply.Send(NotFound(request.path));
  parts.erase(parts.begin(), parts.begin() + 2);

  if (parts.empty()) {
    if (!get) return reply.Send(MethodNotAllowed("GET"));
    inference::ServerMetadataResponse metadata;
    info_.ServerMetadata(&metadata);
    return reply.Send(Json(ProtoToJson(metadata)));
  }
  if (parts[0] == "health" && parts.size() == 2 && (parts[1] == "live" || parts[1] == "ready")) {
    if (!get) return reply.Send(MethodNotAllowed("GET"));
    return reply.Send(Bool(parts[1] == "live" || readiness_.ServerReady()));
  }
  if (parts[0] == "repository" && parts.size() == 2 && parts[1] == "index") {
    if (!post) return reply.Send(MethodNotAllowed("POST"));
    bool ready_only = false;
    if (!request.body.empty()) {
      rapidjson::Document doc;
      doc.Parse(request.body.data(), request.body.size());
      if (doc.HasParseError() || !doc.IsObject()) {
        return reply.Send(
            JsonErrorResponse(400, "repository index body must be a JSON object, e.g. {\"ready\": true}"));
      }
      auto it = doc.FindMember("ready");
      if (it != doc.MemberEnd()) {
        if (!it->value.IsBool()) return reply.Send(JsonErrorResponse(400, "\"ready\" must be true or false"));
        ready_only = it->value.GetBool();
      }
    }
    inference::RepositoryIndexResponse index;
    info_.RepositoryIndex(ready_only, &index);
    return reply.Send(Json(RepeatedFieldToJson(index, "models")));
  }
  if (parts[0] == "repository" && parts.size() >= 4 && parts[1] == "models" &&
      (parts.back() == "load" || parts.back() == "unload")) {
    if (!post) return reply.Send(MethodNotAllowed("POST"));
    // The name is everything between "models/" and the action: the HTTP layer has decoded
    // percent-escapes, so "..%2Fm" arrives as "../m" and must be refused as a name, not routed.
    const absl::string_view action = parts.back();
    const std::string name = absl::StrJoin(parts.begin() + 2, parts.end() - 1, "/");
    return Control(request, name, action, std::move(reply));
  }
  if (parts[0] != "models") return reply.Send(NotFound(request.path));
  parts.erase(parts.begin());
  if (parts.size() == 1 && parts[0] == "stats") {  // every model's statistics
    if (!get) return reply.Send(MethodNotAllowed("GET"));
    inference::ModelStatisticsResponse stats;
    absl::Status status = info_.ModelStatistics("", "", &stats);
    return reply.Send(status.ok() ? Json(ProtoToJson(stats)) : Error(status));
  }
  std::optional<ModelRoute> route = ParseModelRoute(parts);
  if (!route.has_value()) return reply.Send(NotFound(request.path));

  if (route->action == "infer") {
    if (!post) return reply.Send(MethodNotAllowed("POST"));
    return Infer(request, route->model, route->version, std::move(reply));
  }
  if (!get) return reply.Send(MethodNotAllowed("GET"));
  if (route->action.empty()) {
    inference::ModelMetadataResponse metadata;
    absl::Status status = info_.ModelMetadata(route->model, route->version, &metadata);
    return reply.Send(status.ok() ? Json(ProtoToJson(metadata)) : Error(status));
  }
  if (route->action == "ready") {
    absl::StatusOr<bool> ready = info_.ModelReady(route->model, route->version);
    return reply.Send(ready.ok() ? Bool(*ready) : Error(ready.status()));
  }
  if (route->action == "config") {
    inference::ModelConfigResponse config;
    absl::Status status = info_.ModelConfig(route->model, &config);
    return reply.Send(status.ok() ? Json(ProtoToJson(config.config())) : Error(status));
  }
  inference::ModelStatisticsResponse stats;
  absl::Status status = info_.ModelStatistics(route->model, route->version, &stats);
  reply.Send(status.ok() ? Json(ProtoToJson(stats)) : Error(status));
}

void KServeRest::Infer(const HttpRequest& request, const std::string& model, const std::string& version_text,
                       HttpReply reply) {
  // The body and its decoded tensors are charged by the HTTP layer and here (message_bytes -1).
  CallInfo call{Api::kRest, model, absl::InfiniteFuture(), request.cancel, -1};
  std::optional<size_t> json_length;
  if (std::optional<absl::string_view> header = request.Header("Inference-Header-Content-Length")) {
    size_t n = 0;
    if (!absl::SimpleAtoi(*header, &n)) {
      return reply.Send(JsonErrorResponse(400, "Inference-Header-Content-Length must be a byte count"));
    }
    json_length = n;
  }
  if (std::optional<absl::string_view> encoding = request.Header("Content-Encoding");
      encoding.has_value() && *encoding != "identity") {
    return reply.Send(JsonErrorResponse(
        415, absl::StrCat("Content-Encoding '", *encoding, "' is not supported; send the body uncompressed")));
  }
  // A bad version is a decode error like any other: it goes through the request path and is
  // counted there, as over gRPC.
  const absl::StatusOr<int64_t> version = ParseKServeVersion(version_text);
  absl::StatusOr<RestInferRequest> parsed = version.ok() ? ParseRestInfer(model, *version, request.body, json_length,
                                                                          {path_.limits().max_elements, request.charge})
                                                         : absl::StatusOr<RestInferRequest>(version.status());
  auto pending = std::make_shared<PendingInfer>();
  pending->model_name = model;
  using Decoded = absl::StatusOr<std::unique_ptr<InferenceRequest>>;
  if (parsed.ok()) {
    pending->id = parsed->request->id;
    pending->format = std::move(parsed->format);
  }
  // A JSON body was copied into the tensors: a request that waits in a queue holds only them.
  // Binary inputs borrow from the body, which then lives until the reply is sent.
  if (!json_length.has_value()) request.ReleaseBody();
  Decoded decoded = parsed.ok() ? Decoded(std::move(parsed->request)) : Decoded(parsed.status());
  path_.Start(
      std::move(call), std::move(decoded),
      [pending](InferenceResponse& result) {
        pending->result = std::move(result);  // encoded on the event loop, not on this runtime thread
        return absl::OkStatus();
      },
      [pending, reply](const absl::Status& status) mutable {
        reply.Make([pending, status]() -> HttpResponse {
          if (!status.ok()) return Error(status);
          RestInferBody encoded = EncodeRestInfer(pending->model_name, pending->id, pending->format, pending->result);
          HttpResponse response{200, "application/json", std::move(encoded.body), {}};
          if (encoded.json_length.has_value()) {
            response.content_type = "application/octet-stream";
            response.headers.emplace_back("Inference-Header-Content-Length", std::to_string(*encoded.json_length));
          }
          return response;
        });
      });
}

void KServeRest::Control(const HttpRequest& request, absl::string_view model, absl::string_view action,
                         HttpReply reply) {
  if (control_ == nullptr) return reply.Send(JsonErrorResponse(501, "model control is not enabled"));
  // Body: empty or a JSON object; tritonclient.http sends {} or {"parameters": {...}}.
  std::vector<std::string> parameters;
  if (!request.body.empty()) {
    rapidjson::Document doc;
    doc.Parse(request.body.data(), request.body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      return reply.Send(JsonErrorResponse(400, "the body must be empty or a JSON object"));
    }
    auto it = doc.FindMember("parameters");
    if (it != doc.MemberEnd() && it->value.IsObject()) {
      for (auto p = it->value.MemberBegin(); p != it->value.MemberEnd(); ++p)
        parameters.emplace_back(p->name.GetString());
    }
  }
  // One path segment; the repository refuses anything path-like in it (CheckModelName).
  control_->Run(action == "load" ? RepositoryControl::Action::kLoad : RepositoryControl::Action::kUnload,
                std::string(model), parameters,
                [reply](const absl::Status& status) mutable { reply.Send(status.ok() ? Json("{}") : Error(status)); });
}

}  // namespace seqserve
