// Minimal KServe-v2-shaped server on Boost.Beast/Asio (Debian 12: Boost 1.74), for the HTTP
// library comparison in this folder. Usage: beast_server PORT   (listens on 127.0.0.1 only)
//   GET  /v2/health/ready     -> 200, empty body
//   POST /v2/models/m/infer   -> sums inputs[0].data (INT64), answers {"outputs":[...]}
// Concurrency: one io_context run by 2 threads; each connection on its own strand, with
// async accept/read/write and a per-request read deadline (tcp_stream::expires_after(30s)).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <thread>
#include "infer_json.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}

  void Start() { ReadRequest(); }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(1 << 20);  // also Beast's default for requests
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {  // end_of_stream, timeout, parse error: drop the connection
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    const auto& req = parser_->get();
    res_ = {};
    res_.version(req.version());
    res_.keep_alive(req.keep_alive());
    if (req.method() == http::verb::get && req.target() == "/v2/health/ready") {
      res_.result(http::status::ok);
    } else if (req.method() == http::verb::post && req.target() == "/v2/models/m/infer") {
      std::string out;
      if (Infer(req.body(), &out)) {
        res_.result(http::status::ok);
        res_.body() = std::move(out);
      } else {
        res_.result(http::status::bad_request);
        res_.body() = "{\"error\":\"bad request\"}";
      }
      res_.set(http::field::content_type, "application/json");
    } else {
      res_.result(http::status::not_found);
    }
    res_.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return;
    if (!res_.keep_alive()) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    ReadRequest();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::endpoint ep) : ioc_(ioc), acceptor_(asio::make_strand(ioc)) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (!ec)
        std::make_shared<Session>(std::move(s))->Start();
      else if (ec == asio::error::operation_aborted)
        return;
      else
        std::fprintf(stderr, "beast_server: accept: %s\n", ec.message().c_str());
      self->Accept();
    });
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  asio::io_context ioc(2);
  try {
    std::make_shared<Listener>(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port))->Accept();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_server: cannot listen on 127.0.0.1:%u: %s\n", port, e.what());
    return 1;
  }
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
  std::signal(SIGPIPE, SIG_IGN);  // asio already uses MSG_NOSIGNAL; belt and braces
  std::thread second([&] { ioc.run(); });
  ioc.run();
  second.join();
  return 0;
}
