// seqserve-tokenize: runs a tokenizer.json through seqserve's tokenizer from the command line.
//
//   seqserve-tokenize TOKENIZER_JSON < requests.jsonl > encodings.jsonl
//     Each input line {"text": "...", "text_pair": "..." (optional), "max_length": N (optional,
//     0 or absent: no truncation), "strategy": "LongestFirst|OnlyFirst|OnlySecond", "side":
//     "Right|Left"} gives one output line {"ids": [...], "type_ids": [...]} or {"error": "..."}.
//     A tokenizer.json that does not load prints the reason on stderr and exits 2.
//   seqserve-tokenize TOKENIZER_JSON --bench SECONDS < requests.jsonl
//     Encodes every request over and over on one thread for at least SECONDS and prints
//     {"texts": ..., "tokens": ..., "seconds": ..., "us_per_text": ..., "tokens_per_second": ...}.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

using seqserve::tokenizer::Encoding;
using seqserve::tokenizer::Tokenizer;
using seqserve::tokenizer::Truncation;

struct Request {
  std::string text;
  std::optional<std::string> pair;
  Truncation truncation;
  std::string parse_error;
};

Request ParseRequest(const std::string& line) {
  Request request;
  rapidjson::Document document;
  document.Parse(line.data(), line.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("text") || !document["text"].IsString()) {
    request.parse_error = "each line must be a JSON object with a string 'text'";
    return request;
  }
  request.text.assign(document["text"].GetString(), document["text"].GetStringLength());
  if (document.HasMember("text_pair") && document["text_pair"].IsString()) {
    request.pair.emplace(document["text_pair"].GetString(), document["text_pair"].GetStringLength());
  }
  if (document.HasMember("max_length") && document["max_length"].IsUint()) {
    request.truncation.max_length = document["max_length"].GetUint();
  }
  if (document.HasMember("strategy") && document["strategy"].IsString()) {
    const std::string strategy = document["strategy"].GetString();
    if (strategy == "OnlyFirst") {
      request.truncation.strategy = Truncation::Strategy::kOnlyFirst;
    } else if (strategy == "OnlySecond") {
      request.truncation.strategy = Truncation::Strategy::kOnlySecond;
    } else if (strategy != "LongestFirst") {
      request.parse_error = "'strategy' must be LongestFirst, OnlyFirst or OnlySecond";
    }
  }
  if (document.HasMember("side") && document["side"].IsString() &&
      std::string(document["side"].GetString()) == "Left") {
    request.truncation.side = Truncation::Side::kLeft;
  }
  return request;
}

void WriteArray(rapidjson::Writer<rapidjson::StringBuffer>& writer, const char* key,
                const std::vector<int32_t>& values) {
  writer.Key(key);
  writer.StartArray();
  for (int32_t value : values) writer.Int(value);
  writer.EndArray();
}

int Bench(const Tokenizer& tokenizer, const std::vector<Request>& requests, double seconds) {
  Encoding encoding;
  size_t texts = 0, tokens = 0;
  const absl::Time start = absl::Now();
  absl::Duration elapsed;
  do {
    for (const Request& request : requests) {
      if (!request.parse_error.empty()) continue;
      if (!tokenizer.Encode(request.text, request.pair, request.truncation, encoding).ok()) continue;
      ++texts;
      tokens += encoding.ids.size();
    }
    elapsed = absl::Now() - start;
  } while (elapsed < absl::Seconds(seconds));
  const double total = absl::ToDoubleSeconds(elapsed);
  std::printf(
      "{\"texts\": %zu, \"tokens\": %zu, \"seconds\": %.6f, \"us_per_text\": %.4f, \"tokens_per_second\": %.1f}\n",
      texts, tokens, total, total * 1e6 / static_cast<double>(texts ? texts : 1), static_cast<double>(tokens) / total);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && !(argc == 4 && std::string(argv[2]) == "--bench")) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON [--bench SECONDS] < requests.jsonl\n", argv[0]);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<const Tokenizer>> tokenizer = Tokenizer::FromFile(argv[1]);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
    return 2;
  }
  std::vector<Request> requests;
  for (std::string line; std::getline(std::cin, line);) requests.push_back(ParseRequest(line));
  if (argc == 4) return Bench(**tokenizer, requests, std::atof(argv[3]));

  Encoding encoding;
  for (const Request& request : requests) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    writer.StartObject();
    absl::Status status = request.parse_error.empty()
                              ? (*tokenizer)->Encode(request.text, request.pair, request.truncation, encoding)
                              : absl::InvalidArgumentError(request.parse_error);
    if (status.ok()) {
      WriteArray(writer, "ids", encoding.ids);
      WriteArray(writer, "type_ids", encoding.type_ids);
    } else {
      writer.Key("error");
      writer.String(std::string(status.message()).c_str());
    }
    writer.EndObject();
    std::fwrite(buffer.GetString(), 1, buffer.GetSize(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}
