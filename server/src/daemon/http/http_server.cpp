#include "http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "routes.h"

namespace ppx::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct HttpServer::Impl {
  InferenceService& service;
  const DaemonConfig& config;
  Routes routes;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::atomic<std::size_t> connections{0};

  Impl(InferenceService& s, const DaemonConfig& c) : service(s), config(c), routes(s, c) {}

  static ApiRequest to_api(const http::request<http::string_body>& req) {
    ApiRequest r;
    r.method = std::string(req.method_string());
    split_target(std::string(req.target()), r);
    r.body = req.body();
    r.authorization = std::string(req[http::field::authorization]);
    return r;
  }

  static http::response<http::string_body> to_http(const ApiResponse& a, unsigned version, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(a.status), version};
    res.set(http::field::server, "ppxd");
    res.set(http::field::content_type, a.content_type);
    res.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : a.headers) res.set(k, v);
    res.keep_alive(keep_alive);
    res.body() = a.body;
    res.prepare_payload();
    return res;
  }

  asio::awaitable<void> write_raw(beast::tcp_stream& stream, const std::string& text) {
    stream.expires_after(30s);
    co_await asio::async_write(stream, asio::buffer(text), asio::use_awaitable);
  }

  // SSE: "event: progress" with the job's JSON on every change, then "event: end".
  asio::awaitable<void> events(beast::tcp_stream& stream, const std::string& id) {
    co_await write_raw(stream, "HTTP/1.1 200 OK\r\nServer: ppxd\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::uint64_t seen = ~std::uint64_t{0};
    auto last_write = std::chrono::steady_clock::now();
    for (;;) {
      const std::uint64_t version = service.version(id);
      if (version != seen) {
        seen = version;
        const nlohmann::json job = service.status(id);
        const bool final = is_final(*parse_job_state(job.value("state", "queued")));
        co_await write_raw(stream, std::string("event: ") + (final ? "end" : "progress") + "\ndata: " + job.dump() + "\n\n");
        last_write = std::chrono::steady_clock::now();
        if (final) co_return;
      } else if (std::chrono::steady_clock::now() - last_write > 15s) {
        co_await write_raw(stream, ": keep-alive\n\n");
        last_write = std::chrono::steady_clock::now();
      }
      timer.expires_after(100ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    struct Count {
      std::atomic<std::size_t>& n;
      ~Count() { --n; }
    } count{connections};
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    try {
      for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(16 * 1024);
        parser.body_limit(config.limits.body_bytes);
        stream.expires_after(60s);  // idle keep-alive connections close after a minute
        beast::error_code ec;
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof) break;
        if (ec == http::error::body_limit) {
          const ApiResponse a = error_response(
              ErrorCode::PayloadTooLarge,
              "the request body is larger than limits.body_bytes (" + std::to_string(config.limits.body_bytes) + " bytes)");
          auto res = to_http(a, 11, false);
          stream.expires_after(10s);
          co_await http::async_write(stream, res, asio::use_awaitable);
          break;
        }
        if (ec) {
          const ApiResponse a = error_response(ErrorCode::BadRequest, "malformed HTTP request: " + ec.message());
          auto res = to_http(a, 11, false);
          stream.expires_after(10s);
          co_await http::async_write(stream, res, asio::use_awaitable);
          break;
        }
        const http::request<http::string_body>& req = parser.get();
        const ApiRequest api = to_api(req);
        if (const std::string id = Routes::events_id(api); !id.empty()) {
          ApiResponse refusal;
          try {
            routes.authorize(api);
            (void)service.status(id);
          } catch (const ServiceError& e) {
            refusal = error_response(e.code(), e.what());
          }
          if (refusal.status != 200) {
            auto res = to_http(refusal, req.version(), false);
            stream.expires_after(10s);
            co_await http::async_write(stream, res, asio::use_awaitable);
          } else {
            co_await events(stream, id);
          }
          break;
        }
        const bool keep_alive = req.keep_alive();
        auto res = to_http(routes.handle(api), req.version(), keep_alive);
        stream.expires_after(60s);
        co_await http::async_write(stream, res, asio::use_awaitable);
        if (!keep_alive) break;
      }
    } catch (const std::exception&) {
      // A client that vanished or timed out: nothing to answer.
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      if (connections.load() >= config.limits.connections) {
        socket.close(ec);  // over the limit: the client retries
        continue;
      }
      ++connections;
      asio::co_spawn(io, session(std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(InferenceService& service, const DaemonConfig& config)
    : impl_(std::make_unique<Impl>(service, config)) {}

HttpServer::~HttpServer() { stop(); }

std::uint16_t HttpServer::start() {
  Impl& d = *impl_;
  beast::error_code ec;
  tcp::resolver resolver(d.io);
  auto results = resolver.resolve(d.config.host, std::to_string(d.config.port), ec);
  if (ec || results.empty()) throw std::runtime_error("cannot resolve listen address '" + d.config.host + "': " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  d.acceptor.open(endpoint.protocol(), ec);
  if (!ec) d.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) d.acceptor.bind(endpoint, ec);
  if (!ec) d.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + d.config.host + ":" + std::to_string(d.config.port) + ": " + ec.message());
  }
  asio::co_spawn(d.io, d.accept_loop(), asio::detached);
  for (std::size_t i = 0; i < d.config.http_threads; ++i) d.threads.emplace_back([&d] { d.io.run(); });
  return d.acceptor.local_endpoint().port();
}

void HttpServer::stop() {
  Impl& d = *impl_;
  asio::post(d.io, [&d] {
    beast::error_code ignored;
    d.acceptor.close(ignored);
  });
  d.io.stop();
  for (std::thread& t : d.threads) {
    if (t.joinable()) t.join();
  }
  d.threads.clear();
}

}  // namespace ppx::daemon
