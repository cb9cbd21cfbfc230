// What the three benchmark servers share, so that they differ only in the library under test:
// the one request they answer (a KServe-shaped infer body whose first input's integer `data` is
// summed into a one-element output) and, for the two without an event loop of their own, the
// start of main().
#ifndef SEQSERVE_BENCHMARKS_HTTP_LIBRARIES_INFER_JSON_H_
#define SEQSERVE_BENCHMARKS_HTTP_LIBRARIES_INFER_JSON_H_

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

// The port argument of `main` (usage message and exit 2 without one). Then SIGINT and SIGTERM
// are blocked in this thread and in every thread started after it, for one sigwait on `stop` to
// take them; SIGPIPE is ignored.
inline int PortAndStopSignals(int argc, char** argv, sigset_t* stop) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    std::exit(2);
  }
  sigemptyset(stop);
  sigaddset(stop, SIGINT);
  sigaddset(stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return std::atoi(argv[1]);
}

// Parses the infer body and writes the response JSON; false on a malformed body.
inline bool Infer(const std::string& body, std::string* out) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto inputs = doc.FindMember("inputs");
  if (inputs == doc.MemberEnd() || !inputs->value.IsArray() || inputs->value.Empty()) return false;
  const auto& in0 = inputs->value[0];
  if (!in0.IsObject()) return false;
  auto data = in0.FindMember("data");
  if (data == in0.MemberEnd() || !data->value.IsArray()) return false;
  int64_t sum = 0;
  for (const auto& v : data->value.GetArray()) {
    if (!v.IsInt64()) return false;
    sum += v.GetInt64();
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("outputs");
  w.StartArray();
  w.StartObject();
  w.Key("name");
  w.String("y");
  w.Key("shape");
  w.StartArray();
  w.Int(1);
  w.EndArray();
  w.Key("datatype");
  w.String("INT64");
  w.Key("data");
  w.StartArray();
  w.Int64(sum);
  w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

#endif  // SEQSERVE_BENCHMARKS_HTTP_LIBRARIES_INFER_JSON_H_
