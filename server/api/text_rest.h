// TextRest: the routes that take text, on the REST port beside KServe's, so that the tools
// embedding users already have can point at seqserve: OpenAI's SDK (and LangChain, LlamaIndex)
// and Hugging Face TEI's clients.
//   POST /v1/embeddings   OpenAI: {"model", "input": string | [string] | [int] | [[int]],
//                         "encoding_format": "float" | "base64", "dimensions"}; errors in
//                         OpenAI's shape {"error": {"message", "type", "param", "code"}}
//   GET  /v1/models[/m]   OpenAI: the models that take text
//   POST /embed           TEI: {"inputs", "normalize", "truncate", "truncation_direction",
//                         "prompt_name", "dimensions"} -> [[float]]
//   POST /predict         TEI: {"inputs": string | [a, b] | [[string] | [a, b]], "raw_scores",
//                         "truncate", ...} -> [{"label", "score"}] (or one list per input)
//   POST /rerank          TEI: {"query", "texts", "raw_scores", "return_text", "truncate", ...}
//                         -> [{"index", "score"[, "text"]}], highest score first
//   POST /tokenize        TEI: {"inputs"} -> [[{"id"}]]
//   GET  /info            TEI: the model a TEI route without "model" would use
// TEI's routes serve one model: the body's "model" (a seqserve extension) names it, else the
// one model of that task with a tokenizer (400 naming them when there are several). TEI's
// errors are {"error", "error_type"}. Everything runs through server/serving/request_path.h
// (api "openai" / "tei": limits, tokenization on this thread, one row per text, metrics).
// Thread-safe.
#ifndef SEQSERVE_SERVER_API_TEXT_REST_H_
#define SEQSERVE_SERVER_API_TEXT_REST_H_

#include <rapidjson/document.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/http/http_server.h"
#include "server/serving/request_path.h"

namespace seqserve {

class TextRest {
 public:
  // `path` must outlive it.
  explicit TextRest(RequestPath& path) : path_(path) {}

  // Whether `path` is one of the routes above (the REST port sends the rest to KServe).
  static bool Serves(absl::string_view path);

  void Handle(const HttpRequest& request, HttpReply reply);

 private:
  // Makes the answer on the event loop from the finished request.
  using Answer = std::function<HttpResponse(InferenceResponse& response, const TextResult& text)>;

  void Embeddings(const HttpRequest& request, HttpReply reply);
  void Models(absl::string_view model, HttpReply reply) const;
  void Embed(const HttpRequest& request, HttpReply reply);
  void Predict(const HttpRequest& request, HttpReply reply);
  void Rerank(const HttpRequest& request, HttpReply reply);
  void Tokenize(const HttpRequest& request, HttpReply reply) const;
  void Info(HttpReply reply) const;

  // Parses a TEI body into `doc` and sets `call.model_name`: the body's "model", else the one
  // model of `call.task` (TeiModel).
  absl::Status TeiCall(const HttpRequest& request, rapidjson::Document& doc, TextCall& call) const;
  // The model a TEI route serves: `named` (the body's "model"), else the one of `task`.
  absl::StatusOr<std::string> TeiModel(const std::string& named, TextTask task) const;
  // Runs `call` through the request path and answers with `answer`, or an error of `api`'s shape.
  void Run(const HttpRequest& request, HttpReply reply, Api api, const std::string& model,
           absl::StatusOr<TextCall> call, Answer answer);

  RequestPath& path_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_TEXT_REST_H_
