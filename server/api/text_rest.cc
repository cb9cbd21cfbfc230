#include "server/api/text_rest.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "server/api/kserve_rest.h"
#include "server/api/text_scores.h"
#include "server/observability/version.h"

namespace seqserve {
namespace {

using Value = rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

// OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
HttpResponse OpenAiError(const absl::Status& status) {
  const int http = HttpStatusFor(status.code());
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  out.StartObject();
  out.Key("error");
  out.StartObject();
  out.Key("message");
  out.String(status.message().data(), static_cast<rapidjson::SizeType>(status.message().size()));
  out.Key("type");
  out.String(http < 500 ? "invalid_request_error" : "server_error");
  out.Key("param");
  out.Null();
  out.Key("code");
  out.Null();
  out.EndObject();
  out.EndObject();
  return HttpResponse{http, "application/json", std::string(buffer.GetString(), buffer.GetSize()), {}};
}

// TEI's error shape: {"error", "error_type"}.
HttpResponse TeiError(const absl::Status& status) {
  const int http = HttpStatusFor(status.code());
  const char* type = http == 429 ? "Overloaded" : http == 503 ? "Unhealthy" : http < 500 ? "Validation" : "Backend";
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  out.StartObject();
  out.Key("error");
  out.String(status.message().data(), static_cast<rapidjson::SizeType>(status.message().size()));
  out.Key("error_type");
  out.String(type);
  out.EndObject();
  return HttpResponse{http, "application/json", std::string(buffer.GetString(), buffer.GetSize()), {}};
}

HttpResponse ErrorFor(Api api, const absl::Status& status) {
  return api == Api::kOpenAi ? OpenAiError(status) : TeiError(status);
}

HttpResponse JsonOf(const rapidjson::StringBuffer& buffer) {
  return HttpResponse{200, "application/json", std::string(buffer.GetString(), buffer.GetSize()), {}};
}

// Shortest decimal that reads back as the same float (std::to_chars); null for NaN / inf.
void WriteFloat(Writer& out, float v) {
  if (!std::isfinite(v)) {
    out.Null();
    return;
  }
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, v).ptr;
  out.RawValue(text, static_cast<size_t>(end - text), rapidjson::kNumberType);
}

void WriteString(Writer& out, absl::string_view s) { out.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

// The body as a JSON object. Its parse is charged like the body (a DOM of strings and small
// values is about the body's size), and given back when `doc` is done with.
absl::Status ParseBody(const HttpRequest& request, rapidjson::Document& doc) {
  if (absl::Status grown = request.charge->Grow(static_cast<int64_t>(request.body.size()), "request body, parsed,");
      !grown.ok()) {
    return grown;
  }
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(request.body.data(),
                                                                                    request.body.size());
  if (doc.HasParseError()) {
    if (doc.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding) {
      return Invalid(absl::StrCat("request body has invalid UTF-8 at byte ", doc.GetErrorOffset()));
    }
    return Invalid(absl::StrCat("request body is not valid JSON (", rapidjson::GetParseError_En(doc.GetParseError()),
                                " at byte ", doc.GetErrorOffset(), ")"));
  }
  if (!doc.IsObject()) return Invalid("request body must be a JSON object");
  return absl::OkStatus();
}

const Value* Member(const Value& object, const char* name) {
  auto it = object.FindMember(name);
  return it == object.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

std::string StringOf(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// `field` as a string, or "" when absent; INVALID_ARGUMENT when not a string.
absl::StatusOr<std::string> OptionalString(const Value& doc, const char* field) {
  const Value* v = Member(doc, field);
  if (v == nullptr) return std::string();
  if (!v->IsString()) return Invalid(absl::StrCat("\"", field, "\" must be a string"));
  return StringOf(*v);
}

absl::StatusOr<bool> OptionalBool(const Value& doc, const char* field, bool absent) {
  const Value* v = Member(doc, field);
  if (v == nullptr) return absent;
  if (!v->IsBool()) return Invalid(absl::StrCat("\"", field, "\" must be true or false"));
  return v->GetBool();
}

// A string or an array of strings (at least one) into `out`.
absl::Status ReadTexts(const Value* v, const char* field, std::vector<std::string>& out) {
  if (v == nullptr) return Invalid(absl::StrCat("\"", field, "\" is missing: send a string or an array of strings"));
  if (v->IsString()) {
    out.push_back(StringOf(*v));
    return absl::OkStatus();
  }
  if (!v->IsArray()) return Invalid(absl::StrCat("\"", field, "\" must be a string or an array of strings"));
  if (v->Empty()) return Invalid(absl::StrCat("\"", field, "\" is empty: send at least one text"));
  for (const Value& e : v->GetArray()) {
    if (!e.IsString()) {
      return Invalid(absl::StrCat("\"", field, "\"[", out.size(), "] is not a string"));
    }
    out.push_back(StringOf(e));
  }
  return absl::OkStatus();
}

// TEI's "truncate" and "truncation_direction" ("Right" / "Left").
absl::Status ReadTruncation(const Value& doc, TextOptions& options) {
  absl::StatusOr<bool> truncate = OptionalBool(doc, "truncate", false);
  if (!truncate.ok()) return truncate.status();
  options.truncate = *truncate;
  absl::StatusOr<std::string> direction = OptionalString(doc, "truncation_direction");
  if (!direction.ok()) return direction.status();
  if (absl::EqualsIgnoreCase(*direction, "left")) {
    options.side = tokenizer::Truncation::Side::kLeft;
  } else if (!direction->empty() && !absl::EqualsIgnoreCase(*direction, "right")) {
    return Invalid("\"truncation_direction\" must be \"Right\" or \"Left\"");
  }
  return absl::OkStatus();
}

// "dimensions": absent -> 0 (the model's width); else a positive integer.
absl::StatusOr<int64_t> ReadDimensions(const Value& doc) {
  const Value* v = Member(doc, "dimensions");
  if (v == nullptr) return 0;
  if (!v->IsInt64() || v->GetInt64() < 1) return Invalid("\"dimensions\" must be a positive integer");
  return v->GetInt64();
}

// OpenAI's "input": a string, an array of strings, an array of token ids (one input) or an
// array of such arrays.
absl::Status ReadOpenAiInput(const Value& input, TextInput& out) {
  if (!input.IsArray() || input.Empty() || !(input.Begin()->IsInt64() || input.Begin()->IsArray())) {
    return ReadTexts(&input, "input", out.texts);
  }
  auto read_row = [&](const Value& row) -> absl::Status {
    std::vector<int64_t>& ids = out.token_ids.emplace_back();
    for (const Value& id : row.GetArray()) {
      if (!id.IsInt64()) return Invalid("\"input\" token ids must be integers");
      ids.push_back(id.GetInt64());
    }
    return absl::OkStatus();
  };
  if (input.Begin()->IsInt64()) return read_row(input);
  for (const Value& row : input.GetArray()) {
    if (!row.IsArray()) return Invalid("\"input\" mixes token-id arrays with other values");
    if (absl::Status read = read_row(row); !read.ok()) return read;
  }
  return absl::OkStatus();
}

// The output rows of the model's answer: [rows, width] FP32.
absl::Span<const float> OutputRows(const InferenceResponse& response, const TextModel& model) {
  for (const Tensor& t : response.outputs) {
    if (t.name == model.output) {
      const absl::string_view bytes = t.bytes();
      return absl::Span<const float>(reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float));
    }
  }
  return {};
}

absl::Span<const float> Row(absl::Span<const float> rows, const TextModel& model, size_t i) {
  return rows.subspan(i * static_cast<size_t>(model.width), static_cast<size_t>(model.width));
}

}  // namespace

bool TextRest::Serves(absl::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path == "/v1/embeddings" || path == "/v1/models" || absl::StartsWith(path, "/v1/models/") ||
         path == "/embed" || path == "/predict" || path == "/rerank" || path == "/tokenize" || path == "/info";
}

void TextRest::Handle(const HttpRequest& request, HttpReply reply) {
  absl::string_view path = request.path;
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  const Api api = absl::StartsWith(path, "/v1/") ? Api::kOpenAi : Api::kTei;
  auto method_not_allowed = [&](const char* allowed) {
    HttpResponse response = ErrorFor(
        api, absl::InvalidArgumentError(absl::StrCat(request.method, " is not allowed on ", path, "; use ", allowed)));
    response.status = 405;
    response.headers.emplace_back("Allow", allowed);
    reply.Send(std::move(response));
  };
  if (path == "/v1/models" || absl::StartsWith(path, "/v1/models/")) {
    if (!get) return method_not_allowed("GET");
    return Models(path == "/v1/models" ? absl::string_view() : path.substr(11), std::move(reply));
  }
  if (path == "/info") {
    if (!get) return method_not_allowed("GET");
    return Info(std::move(reply));
  }
  if (!post) return method_not_allowed("POST");
  if (path == "/v1/embeddings") return Embeddings(request, std::move(reply));
  if (path == "/embed") return Embed(request, std::move(reply));
  if (path == "/predict") return Predict(request, std::move(reply));
  if (path == "/rerank") return Rerank(request, std::move(reply));
  Tokenize(request, std::move(reply));
}

void TextRest::Run(const HttpRequest& request, HttpReply reply, Api api, const std::string& model,
                   absl::StatusOr<TextCall> call, Answer answer) {
  // The texts were copied out of the body and its parse is gone: a request waiting in a queue
  // holds only them, charged here until the reply is sent (its token tensors by the path).
  const int64_t parsed = static_cast<int64_t>(request.body.size());
  request.ReleaseBody();
  request.charge->GiveBack(parsed - (call.ok() ? std::min(TextBytes(call->input), parsed) : 0));
  struct Pending {
    InferenceResponse response;
    TextResult text;
  };
  auto pending = std::make_shared<Pending>();
  CallInfo info{api, model, absl::InfiniteFuture(), request.cancel, -1};
  path_.StartText(
      std::move(info), std::move(call),
      [pending](InferenceResponse& response, const TextResult& text) {
        pending->response = std::move(response);  // encoded on the event loop, not on this runtime thread
        pending->text = text;
        return absl::OkStatus();
      },
      [pending, api, reply, answer = std::move(answer)](const absl::Status& status) mutable {
        reply.Make([pending, api, status, answer = std::move(answer)]() -> HttpResponse {
          if (!status.ok()) return ErrorFor(api, status);
          return answer(pending->response, pending->text);
        });
      });
}

void TextRest::Embeddings(const HttpRequest& request, HttpReply reply) {
  rapidjson::Document doc;
  TextCall call;
  call.task = TextTask::kEmbedding;
  bool base64 = false;
  int64_t dimensions = 0;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status parsed = ParseBody(request, doc); !parsed.ok()) return parsed;
    const Value* model = Member(doc, "model");
    if (model == nullptr || !model->IsString()) return Invalid("\"model\" is missing: name the model (GET /v1/models)");
    call.model_name = StringOf(*model);
    const Value* input = Member(doc, "input");
    if (input == nullptr) return Invalid("\"input\" is missing: send a string, an array of strings or of token ids");
    if (absl::Status read = ReadOpenAiInput(*input, call.input); !read.ok()) return read;
    absl::StatusOr<std::string> format = OptionalString(doc, "encoding_format");
    if (!format.ok()) return format.status();
    if (*format == "base64") {
      base64 = true;
    } else if (!format->empty() && *format != "float") {
      return Invalid("\"encoding_format\" must be \"float\" or \"base64\"");
    }
    absl::StatusOr<int64_t> dims = ReadDimensions(doc);
    if (!dims.ok()) return dims.status();
    dimensions = *dims;
    if (dimensions > 0) call.dimensions = dimensions;
    return absl::OkStatus();
  }();
  const std::string model = call.model_name;
  doc = rapidjson::Document();
  Run(request, std::move(reply), Api::kOpenAi, model,
      status.ok() ? absl::StatusOr<TextCall>(std::move(call)) : absl::StatusOr<TextCall>(status),
      [model, base64, dimensions](InferenceResponse& response, const TextResult& text) -> HttpResponse {
        const size_t width = dimensions > 0 ? static_cast<size_t>(dimensions) : static_cast<size_t>(text.model->width);
        // Cut vectors are renormalized; full ones are the model's own (normalized or not).
        const bool normalize = width < static_cast<size_t>(text.model->width);
        const absl::Span<const float> rows = OutputRows(response, *text.model);
        rapidjson::StringBuffer buffer;
        Writer out(buffer);
        out.StartObject();
        out.Key("object");
        out.String("list");
        out.Key("data");
        out.StartArray();
        std::vector<float> vector;
        for (size_t i = 0; i < text.tokens.size(); ++i) {
          ShapeEmbedding(Row(rows, *text.model, i), width, normalize, vector);
          out.StartObject();
          out.Key("object");
          out.String("embedding");
          out.Key("index");
          out.Uint64(i);
          out.Key("embedding");
          if (base64) {
            // OpenAI's base64: the float32 values, little-endian, base64-encoded.
            WriteString(out, absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(vector.data()),
                                                                  vector.size() * sizeof(float))));
          } else {
            out.StartArray();
            for (float v : vector) WriteFloat(out, v);
            out.EndArray();
          }
          out.EndObject();
        }
        out.EndArray();
        out.Key("model");
        WriteString(out, model);
        out.Key("usage");
        out.StartObject();
        out.Key("prompt_tokens");
        out.Int64(text.total_tokens);
        out.Key("total_tokens");
        out.Int64(text.total_tokens);
        out.EndObject();
        out.EndObject();
        return JsonOf(buffer);
      });
}

void TextRest::Models(absl::string_view name, HttpReply reply) const {
  const std::map<std::string, TextRoute> models = path_.repository().router().TextModels();
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  auto write_model = [&](const std::string& id, const TextRoute& route) {
    out.StartObject();
    out.Key("id");
    WriteString(out, id);
    out.Key("object");
    out.String("model");
    out.Key("created");
    out.Int(0);
    out.Key("owned_by");
    out.String("seqserve");
    out.Key("task");
    WriteString(out, TextTaskName(route.model->task));
    out.Key("version");
    out.Int64(route.version);
    out.EndObject();
  };
  if (!name.empty()) {
    auto it = models.find(std::string(name));
    if (it == models.end()) {
      return reply.Send(OpenAiError(absl::NotFoundError(
          absl::StrCat("no model '", name, "' takes text here; GET /v1/models lists those that do"))));
    }
    write_model(it->first, it->second);
    return reply.Send(JsonOf(buffer));
  }
  out.StartObject();
  out.Key("object");
  out.String("list");
  out.Key("data");
  out.StartArray();
  for (const auto& [id, route] : models) write_model(id, route);
  out.EndArray();
  out.EndObject();
  reply.Send(JsonOf(buffer));
}

absl::Status TextRest::TeiCall(const HttpRequest& request, rapidjson::Document& doc, TextCall& call) const {
  if (absl::Status parsed = ParseBody(request, doc); !parsed.ok()) return parsed;
  absl::StatusOr<std::string> named = OptionalString(doc, "model");
  if (!named.ok()) return named.status();
  absl::StatusOr<std::string> model = TeiModel(*named, *call.task);
  if (!model.ok()) return model.status();
  call.model_name = *std::move(model);
  return absl::OkStatus();
}

absl::StatusOr<std::string> TextRest::TeiModel(const std::string& named, TextTask task) const {
  if (!named.empty()) return named;
  std::vector<std::string> candidates;
  for (const auto& [name, route] : path_.repository().router().TextModels()) {
    if (route.model->task == task) candidates.push_back(name);
  }
  if (candidates.size() == 1) return candidates.front();
  if (candidates.empty()) {
    return absl::NotFoundError(absl::StrCat("no ready model does ", TextTaskName(task),
                                            " from text; pack one with scripts/seqserve-pack --task ",
                                            TextTaskName(task)));
  }
  return Invalid(absl::StrCat("several models do ", TextTaskName(task), " (", absl::StrJoin(candidates, ", "),
                              "); name one in \"model\""));
}

void TextRest::Embed(const HttpRequest& request, HttpReply reply) {
  rapidjson::Document doc;
  TextCall call;
  call.task = TextTask::kEmbedding;
  bool normalize = true;
  int64_t dimensions = 0;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status read = TeiCall(request, doc, call); !read.ok()) return read;
    if (absl::Status read = ReadTexts(Member(doc, "inputs"), "inputs", call.input.texts); !read.ok()) return read;
    absl::StatusOr<bool> norm = OptionalBool(doc, "normalize", true);
    if (!norm.ok()) return norm.status();
    normalize = *norm;
    if (absl::Status read = ReadTruncation(doc, call.options); !read.ok()) return read;
    const Value* prompt = Member(doc, "prompt_name");
    if (prompt != nullptr) {
      if (!prompt->IsString()) return Invalid("\"prompt_name\" must be a string");
      call.prompt_name = StringOf(*prompt);
    }
    absl::StatusOr<int64_t> dims = ReadDimensions(doc);
    if (!dims.ok()) return dims.status();
    dimensions = *dims;
    if (dimensions > 0) call.dimensions = dimensions;
    return absl::OkStatus();
  }();
  const std::string model = call.model_name;
  doc = rapidjson::Document();
  Run(request, std::move(reply), Api::kTei, model,
      status.ok() ? absl::StatusOr<TextCall>(std::move(call)) : absl::StatusOr<TextCall>(status),
      [model, normalize, dimensions](InferenceResponse& response, const TextResult& text) -> HttpResponse {
        const size_t width = dimensions > 0 ? static_cast<size_t>(dimensions) : static_cast<size_t>(text.model->width);
        // A model that normalizes in its graph stays normalized; "normalize": false cannot undo it.
        const bool renormalize =
            normalize && (!text.model->normalized || width < static_cast<size_t>(text.model->width));
        const absl::Span<const float> rows = OutputRows(response, *text.model);
        rapidjson::StringBuffer buffer;
        Writer out(buffer);
        out.StartArray();
        std::vector<float> vector;
        for (size_t i = 0; i < text.tokens.size(); ++i) {
          ShapeEmbedding(Row(rows, *text.model, i), width, renormalize, vector);
          out.StartArray();
          for (float v : vector) WriteFloat(out, v);
          out.EndArray();
        }
        out.EndArray();
        return JsonOf(buffer);
      });
}

void TextRest::Predict(const HttpRequest& request, HttpReply reply) {
  rapidjson::Document doc;
  TextCall call;
  call.task = TextTask::kClassification;
  bool raw = false;
  bool batch = false;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status read = TeiCall(request, doc, call); !read.ok()) return read;
    // TEI's inputs: "text"; ["text", "pair"] (one pair); [["text"] | ["text", "pair"], ...] (a batch).
    const Value* inputs = Member(doc, "inputs");
    if (inputs == nullptr) return Invalid("\"inputs\" is missing: send a string, a pair, or an array of them");
    auto add = [&](const Value& sequence) -> absl::Status {
      if (sequence.IsString()) {
        call.input.texts.push_back(StringOf(sequence));
        return absl::OkStatus();
      }
      if (!sequence.IsArray() || sequence.Empty() || sequence.Size() > 2 ||
          !std::all_of(sequence.Begin(), sequence.End(), [](const Value& v) { return v.IsString(); })) {
        return Invalid("each input must be a string, [text] or [text, text_pair]");
      }
      call.input.texts.push_back(StringOf(sequence[0]));
      if (sequence.Size() == 2) call.input.pairs.push_back(StringOf(sequence[1]));
      return absl::OkStatus();
    };
    if (inputs->IsArray() && !inputs->Empty() && inputs->Begin()->IsArray()) {
      batch = true;
      for (const Value& sequence : inputs->GetArray()) {
        if (absl::Status added = add(sequence); !added.ok()) return added;
      }
    } else if (absl::Status added = add(*inputs); !added.ok()) {
      return added;
    }
    if (!call.input.pairs.empty() && call.input.pairs.size() != call.input.texts.size()) {
      return Invalid("inputs mix single texts and pairs; send all of one kind");
    }
    absl::StatusOr<bool> raw_scores = OptionalBool(doc, "raw_scores", false);
    if (!raw_scores.ok()) return raw_scores.status();
    raw = *raw_scores;
    return ReadTruncation(doc, call.options);
  }();
  const std::string model = call.model_name;
  doc = rapidjson::Document();
  Run(request, std::move(reply), Api::kTei, model,
      status.ok() ? absl::StatusOr<TextCall>(std::move(call)) : absl::StatusOr<TextCall>(status),
      [raw, batch](InferenceResponse& response, const TextResult& text) -> HttpResponse {
        const absl::Span<const float> rows = OutputRows(response, *text.model);
        rapidjson::StringBuffer buffer;
        Writer out(buffer);
        if (batch) out.StartArray();
        for (size_t i = 0; i < text.tokens.size(); ++i) {
          out.StartArray();
          for (const LabelScore& s : ClassScores(Row(rows, *text.model, i), text.model->labels, raw)) {
            out.StartObject();
            out.Key("score");
            WriteFloat(out, s.score);
            out.Key("label");
            WriteString(out, s.label);
            out.EndObject();
          }
          out.EndArray();
        }
        if (batch) out.EndArray();
        return JsonOf(buffer);
      });
}

void TextRest::Rerank(const HttpRequest& request, HttpReply reply) {
  rapidjson::Document doc;
  TextCall call;
  call.task = TextTask::kRerank;
  bool raw = false;
  bool return_text = false;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status read = TeiCall(request, doc, call); !read.ok()) return read;
    const Value* query = Member(doc, "query");
    if (query == nullptr || !query->IsString()) return Invalid("\"query\" must be a string");
    const Value* texts = Member(doc, "texts");
    if (texts == nullptr || !texts->IsArray()) return Invalid("\"texts\" must be an array of strings");
    if (absl::Status read = ReadTexts(texts, "texts", call.input.pairs); !read.ok()) return read;
    call.input.texts.assign(call.input.pairs.size(), StringOf(*query));
    absl::StatusOr<bool> raw_scores = OptionalBool(doc, "raw_scores", false);
    if (!raw_scores.ok()) return raw_scores.status();
    raw = *raw_scores;
    absl::StatusOr<bool> with_text = OptionalBool(doc, "return_text", false);
    if (!with_text.ok()) return with_text.status();
    return_text = *with_text;
    return ReadTruncation(doc, call.options);
  }();
  const std::string model = call.model_name;
  doc = rapidjson::Document();
  // The texts stay with the request (they are its pairs); return_text reads them from there.
  auto texts = std::make_shared<std::vector<std::string>>();
  if (return_text) *texts = call.input.pairs;
  Run(request, std::move(reply), Api::kTei, model,
      status.ok() ? absl::StatusOr<TextCall>(std::move(call)) : absl::StatusOr<TextCall>(status),
      [raw, texts](InferenceResponse& response, const TextResult& text) -> HttpResponse {
        const absl::Span<const float> rows = OutputRows(response, *text.model);
        std::vector<float> scores(text.tokens.size());
        for (size_t i = 0; i < scores.size(); ++i) scores[i] = RelevanceScore(Row(rows, *text.model, i)[0], raw);
        rapidjson::StringBuffer buffer;
        Writer out(buffer);
        out.StartArray();
        for (size_t i : RankByScore(scores)) {
          out.StartObject();
          out.Key("index");
          out.Uint64(i);
          out.Key("score");
          WriteFloat(out, scores[i]);
          if (!texts->empty()) {
            out.Key("text");
            WriteString(out, (*texts)[i]);
          }
          out.EndObject();
        }
        out.EndArray();
        return JsonOf(buffer);
      });
}

void TextRest::Tokenize(const HttpRequest& request, HttpReply reply) const {
  rapidjson::Document doc;
  std::vector<std::string> texts;
  std::shared_ptr<const TextModel> model;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status parsed = ParseBody(request, doc); !parsed.ok()) return parsed;
    absl::StatusOr<std::string> named = OptionalString(doc, "model");
    if (!named.ok()) return named.status();
    absl::StatusOr<std::string> name = named->empty() ? TeiModel("", TextTask::kEmbedding) : *named;
    if (!name.ok()) return name.status();
    absl::StatusOr<TextRoute> route = path_.repository().router().ResolveText(*name, 0);
    if (!route.ok()) return route.status();
    model = route->model;
    if (absl::Status read = ReadTexts(Member(doc, "inputs"), "inputs", texts); !read.ok()) return read;
    absl::StatusOr<bool> special = OptionalBool(doc, "add_special_tokens", true);
    if (!special.ok()) return special.status();
    if (!*special) return Invalid("\"add_special_tokens\": false is not supported; seqserve adds the model's own");
    if (path_.limits().max_texts > 0 && static_cast<int64_t>(texts.size()) > path_.limits().max_texts) {
      return Invalid(absl::StrCat(texts.size(), " inputs in one request; this server takes at most ",
                                  path_.limits().max_texts, " (--max-client-batch-size)"));
    }
    return absl::OkStatus();
  }();
  if (!status.ok()) return reply.Send(TeiError(status));
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  out.StartArray();
  tokenizer::Encoding encoding;
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::Status encoded = model->tokenizer->Encode(texts[i], std::nullopt, tokenizer::Truncation{}, encoding);
    if (!encoded.ok()) {
      return reply.Send(TeiError(absl::Status(encoded.code(), absl::StrCat("input ", i, ": ", encoded.message()))));
    }
    out.StartArray();
    for (int32_t id : encoding.ids) {
      out.StartObject();
      out.Key("id");
      out.Int(id);
      out.EndObject();
    }
    out.EndArray();
  }
  out.EndArray();
  reply.Send(JsonOf(buffer));
}

void TextRest::Info(HttpReply reply) const {
  // TEI serves one model: this is the one its routes would use without "model" (embedding
  // first, then classification, then rerank).
  const std::map<std::string, TextRoute> models = path_.repository().router().TextModels();
  const std::pair<const std::string, TextRoute>* chosen = nullptr;
  for (TextTask task : {TextTask::kEmbedding, TextTask::kClassification, TextTask::kRerank}) {
    for (const auto& entry : models) {
      if (entry.second.model->task == task && chosen == nullptr) chosen = &entry;
    }
  }
  if (chosen == nullptr) {
    return reply.Send(TeiError(absl::NotFoundError("no ready model takes text; pack one with its tokenizer")));
  }
  const TextModel& model = *chosen->second.model;
  rapidjson::StringBuffer buffer;
  Writer out(buffer);
  out.StartObject();
  out.Key("model_id");
  WriteString(out, chosen->first);
  out.Key("model_sha");
  out.Null();
  out.Key("model_dtype");
  out.String("float32");
  out.Key("model_type");
  out.StartObject();
  if (model.task == TextTask::kEmbedding) {
    out.Key("embedding");
    out.StartObject();
    out.Key("pooling");
    WriteString(out, model.pooling);
    out.EndObject();
  } else {
    out.Key(model.task == TextTask::kRerank ? "reranker" : "classifier");
    out.StartObject();
    out.Key("id2label");
    out.StartObject();
    for (size_t i = 0; i < model.labels.size(); ++i) {
      const std::string key = std::to_string(i);
      out.Key(key.c_str());
      WriteString(out, model.labels[i]);
    }
    out.EndObject();
    out.EndObject();
  }
  out.EndObject();
  out.Key("max_input_length");
  out.Int64(model.max_length);
  out.Key("max_client_batch_size");
  out.Int64(path_.limits().max_texts);
  out.Key("auto_truncate");
  out.Bool(path_.limits().auto_truncate);
  out.Key("models");
  out.StartArray();
  for (const auto& [name, route] : models) WriteString(out, name);
  out.EndArray();
  out.Key("version");
  out.String(kSeqserveVersion);
  out.EndObject();
  reply.Send(JsonOf(buffer));
}

}  // namespace seqserve
