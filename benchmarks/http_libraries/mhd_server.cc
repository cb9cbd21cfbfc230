// Minimal KServe-v2-shaped server on libmicrohttpd (Debian 12: 0.9.75), for the HTTP library
// comparison in this folder. Usage: mhd_server PORT   (listens on 127.0.0.1 only)
//   GET  /v2/health/ready     -> 200, empty body
//   POST /v2/models/m/infer   -> sums inputs[0].data (INT64), answers {"outputs":[...]}
// Concurrency: MHD's internal polling with epoll and a pool of 2 threads.
#include <microhttpd.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kMaxBody = 1 << 20;  // MHD has no body limit of its own; enforce one here.

// Parses the infer body and writes the response JSON; false on a malformed body.
bool Infer(const std::string& body, std::string* out) {
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
  w.Key("name"); w.String("y");
  w.Key("shape"); w.StartArray(); w.Int(1); w.EndArray();
  w.Key("datatype"); w.String("INT64");
  w.Key("data"); w.StartArray(); w.Int64(sum); w.EndArray();
  w.EndObject();
  w.EndArray();
  w.EndObject();
  out->assign(sb.GetString(), sb.GetSize());
  return true;
}

MHD_Result Reply(MHD_Connection* c, unsigned status, const std::string& body, const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  if (type != nullptr) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

// Per-request state: the request body collected so far.
struct RequestState {
  std::string body;
  bool too_large = false;
};

MHD_Result Handle(void*, MHD_Connection* c, const char* url, const char* method, const char*,
                  const char* upload_data, size_t* upload_data_size, void** con_cls) {
  auto* st = static_cast<RequestState*>(*con_cls);
  if (st == nullptr) {
    // First call: headers only. Answer on a later call, once the whole request is read:
    // a response queued here (before the request is complete) makes 0.9.75 close the
    // connection ("Connection: close"), even for a GET without body.
    *con_cls = new RequestState();
    return MHD_YES;
  }
  if (*upload_data_size != 0) {  // a piece of the body
    if (st->body.size() + *upload_data_size > kMaxBody) st->too_large = true;
    else st->body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  // Request complete.
  if (std::strcmp(method, MHD_HTTP_METHOD_GET) == 0 && std::strcmp(url, "/v2/health/ready") == 0) {
    return Reply(c, MHD_HTTP_OK, "", nullptr);
  }
  if (std::strcmp(method, MHD_HTTP_METHOD_POST) != 0 || std::strcmp(url, "/v2/models/m/infer") != 0) {
    return Reply(c, MHD_HTTP_NOT_FOUND, "", nullptr);
  }
  if (st->too_large) return Reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "", nullptr);
  std::string out;
  if (!Infer(st->body, &out)) return Reply(c, MHD_HTTP_BAD_REQUEST, "{\"error\":\"bad request\"}",
                                          "application/json");
  return Reply(c, MHD_HTTP_OK, out, "application/json");
}

void Completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  delete static_cast<RequestState*>(*con_cls);
  *con_cls = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // MHD's threads inherit the mask
  signal(SIGPIPE, SIG_IGN);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);

  MHD_Daemon* d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, static_cast<uint16_t>(port),
      nullptr, nullptr, &Handle, nullptr,
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&addr),
      MHD_OPTION_THREAD_POOL_SIZE, 2u,
      MHD_OPTION_CONNECTION_LIMIT, 1024u,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u,
      MHD_OPTION_NOTIFY_COMPLETED, &Completed, nullptr,
      MHD_OPTION_END);
  if (d == nullptr) {
    std::fprintf(stderr, "mhd_server: MHD_start_daemon failed on 127.0.0.1:%d\n", port);
    return 1;
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  MHD_stop_daemon(d);
  return 0;
}
