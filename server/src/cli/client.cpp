#include "client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

namespace ppx::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using nlohmann::json;

struct ClientOptions {
  std::string daemon;
  std::string token;
  long timeout_ms = 30'000;  // any one request; an event stream may be silent 60 s at most
};

struct Reply {
  int status = 0;
  std::string body;
};

class DaemonError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs a coroutine to completion on its own io_context.
template <typename T>
T run_sync(asio::awaitable<T> op) {
  asio::io_context io;
  std::exception_ptr error;
  std::optional<T> value;
  asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) value = std::move(v);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

class Client {
 public:
  explicit Client(ClientOptions o) : options_(std::move(o)) {
    std::string url = options_.daemon;
    if (url.rfind("http://", 0) == 0) url = url.substr(7);
    while (!url.empty() && url.back() == '/') url.pop_back();
    const auto colon = url.rfind(':');
    host_ = colon == std::string::npos ? url : url.substr(0, colon);
    port_ = colon == std::string::npos ? "80" : url.substr(colon + 1);
    if (host_.empty()) throw std::invalid_argument("--daemon must be http://HOST:PORT, got '" + options_.daemon + "'");
  }

  Reply request(http::verb method, const std::string& target, std::string body = {},
                const std::string& content_type = "application/json") {
    return run_sync(request_async(method, target, std::move(body), content_type));
  }

  // Calls on_event(name, data) for each SSE event until it returns false or the stream ends.
  void events(const std::string& target, const std::function<bool(const std::string&, const std::string&)>& on_event) {
    run_sync(events_async(target, on_event));
  }

 private:
  asio::awaitable<beast::tcp_stream> connect() {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    const auto endpoints = co_await resolver.async_resolve(host_, port_, asio::use_awaitable);
    beast::tcp_stream stream(executor);
    stream.expires_after(std::chrono::milliseconds(options_.timeout_ms));
    co_await stream.async_connect(endpoints, asio::use_awaitable);
    co_return stream;
  }

  http::request<http::string_body> make(http::verb method, const std::string& target, std::string body,
                                        const std::string& content_type) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::user_agent, "ppx");
    if (!options_.token.empty()) req.set(http::field::authorization, "Bearer " + options_.token);
    if (!body.empty()) req.set(http::field::content_type, content_type);
    req.body() = std::move(body);
    req.keep_alive(false);
    req.prepare_payload();
    return req;
  }

  asio::awaitable<Reply> request_async(http::verb method, std::string target, std::string body, std::string type) {
    beast::tcp_stream stream = co_await connect();
    auto req = make(method, target, std::move(body), type);
    stream.expires_after(std::chrono::milliseconds(options_.timeout_ms));
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{8} << 30);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    co_return Reply{static_cast<int>(parser.get().result_int()), parser.get().body()};
  }

  asio::awaitable<int> events_async(std::string target,
                                    std::function<bool(const std::string&, const std::string&)> on_event) {
    beast::tcp_stream stream = co_await connect();
    auto req = make(http::verb::get, target, {}, {});
    co_await http::async_write(stream, req, asio::use_awaitable);
    // The header, then "event: NAME\ndata: TEXT\n\n" blocks until the daemon closes the stream.
    std::string pending;
    bool header_done = false;
    std::array<char, 8192> chunk{};
    for (;;) {
      stream.expires_after(std::chrono::seconds(60));
      beast::error_code ec;
      const std::size_t n = co_await stream.async_read_some(asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::eof) co_return 0;
      if (ec) throw beast::system_error(ec);
      pending.append(chunk.data(), n);
      if (pending.size() > (std::size_t{64} << 20)) throw DaemonError("event stream: an event larger than 64 MiB");
      if (!header_done) {
        const auto end = pending.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const std::string status_line = pending.substr(0, pending.find("\r\n"));
        if (status_line.find(" 200 ") == std::string::npos) throw DaemonError("event stream refused: " + status_line);
        pending.erase(0, end + 4);
        header_done = true;
      }
      for (auto end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
        const std::string block = pending.substr(0, end);
        pending.erase(0, end + 2);
        std::string name = "message", data;
        std::istringstream lines(block);
        for (std::string line; std::getline(lines, line);) {
          if (line.rfind("event: ", 0) == 0) name = line.substr(7);
          if (line.rfind("data: ", 0) == 0) data += line.substr(6);
        }
        if (!data.empty() && !on_event(name, data)) co_return 0;
      }
    }
  }

  ClientOptions options_;
  std::string host_, port_;
};

// The daemon's answer, or a DaemonError carrying its {"error": {"message"}}.
json expect(const Reply& reply, int status) {
  if (reply.status == status) return reply.body.empty() ? json() : json::parse(reply.body);
  std::string message = reply.body;
  try {
    const json j = json::parse(reply.body);
    message = j.at("error").at("message");
  } catch (const std::exception&) {
  }
  throw DaemonError(fmt::format("the daemon answered {}: {}", reply.status, message));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// NAME=NUMBER|JSON|@FILE.json|@FILE.npy (uploaded) -> (name, JSON value for the query)
std::pair<std::string, json> observation(Client& client, const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--observe '" + spec + "' is not NAME=VALUE");
  const std::string name = spec.substr(0, eq), value = spec.substr(eq + 1);
  if (!value.empty() && value[0] == '@') {
    const std::string path = value.substr(1);
    if (path.ends_with(".npy")) {
      const json up = expect(client.request(http::verb::post, "/v1/observations", slurp(path), "application/octet-stream"), 201);
      return {name, {{"upload", up.at("id")}}};
    }
    return {name, json::parse(slurp(path))};
  }
  try {
    return {name, json::parse(value)};
  } catch (const json::parse_error&) {
    throw std::invalid_argument("--observe '" + spec + "': the value is not a number or JSON array");
  }
}

std::string progress_line(const json& job) {
  const json p = job.value("progress", json::object());
  return fmt::format("{} {}/{} traces  {:.0f} traces/s  ESS {:.1f}", job.value("state", "?"), p.value("done", 0),
                     p.value("total", 0), p.value("traces_per_second", 0.0), p.value("ess", 0.0));
}

// Follows the event stream to the end; returns the final job.
json follow(Client& client, const std::string& id, bool quiet) {
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  json last;
  client.events("/v1/queries/" + id + "/events", [&](const std::string& name, const std::string& data) {
    last = json::parse(data);
    if (!quiet) {
      if (terminal) {
        std::cerr << "\r\033[K" << progress_line(last) << (name == "end" ? "\n" : "") << std::flush;
      } else if (name == "end") {
        std::cerr << progress_line(last) << "\n";
      }
    }
    return name != "end";
  });
  if (last.is_null()) last = expect(client.request(http::verb::get, "/v1/queries/" + id), 200);
  return last;
}

int final_code(const json& job) {
  const std::string state = job.value("state", "");
  if (state == "finished") return 0;
  std::cerr << "ppx: query " << job.value("id", "") << " " << state
            << (job.contains("error") ? ": " + job["error"].get<std::string>() : std::string()) << "\n";
  return 1;
}

}  // namespace

std::function<std::optional<int>()> add_client_commands(CLI::App& app) {
  struct State {
    ClientOptions client;
    std::string id, model, engine = "is", format = "json", out, state;
    std::uint64_t traces = 1000, seed = 0;
    std::vector<std::string> observe, options;
    bool wait = false, quiet = false;
  };
  auto s = std::make_shared<State>();
  const char* daemon = std::getenv("PPX_DAEMON");
  const char* token = std::getenv("PPX_TOKEN");
  s->client.daemon = daemon != nullptr && *daemon != '\0' ? daemon : "http://127.0.0.1:8080";
  s->client.token = token != nullptr ? token : "";

  auto common = [&](CLI::App* sub) {
    sub->add_option("--daemon", s->client.daemon, "Daemon address (env PPX_DAEMON)")->capture_default_str();
    sub->add_option("--token", s->client.token, "Daemon token (env PPX_TOKEN)");
    sub->add_option("--timeout-ms", s->client.timeout_ms, "Longest wait for one answer")->check(CLI::PositiveNumber);
    return sub;
  };
  CLI::App* submit = common(app.add_subcommand("submit", "Submit a posterior query to ppxd; prints its id"));
  submit->add_option("--model", s->model, "Model name (as in the daemon's config)")->required();
  submit->add_option("--engine", s->engine, "Inference engine")->capture_default_str();
  submit->add_option("--traces", s->traces, "Traces (IS) or draws per chain (MCMC)")->check(CLI::PositiveNumber);
  submit->add_option("--seed", s->seed, "Master seed");
  submit->add_option("--observe", s->observe, "NAME=VALUE, NAME=@FILE.json or NAME=@FILE.npy (uploaded)");
  submit->add_option("--option", s->options, "Engine option KEY=JSON (e.g. chains=4, burn_in=500)");
  submit->add_flag("--wait", s->wait, "Follow the progress and exit when the query ends");
  submit->add_flag("-q,--quiet", s->quiet, "No progress line");
  CLI::App* status = common(app.add_subcommand("status", "Print a query's state, progress and summary (JSON)"));
  status->add_option("id", s->id, "Query id")->required();
  CLI::App* wait = common(app.add_subcommand("wait", "Follow a query's progress until it ends"));
  wait->add_option("id", s->id, "Query id")->required();
  wait->add_flag("-q,--quiet", s->quiet, "No progress line");
  CLI::App* results = common(app.add_subcommand("results", "Fetch a query's result"));
  results->add_option("id", s->id, "Query id")->required();
  results->add_option("--format", s->format, "json, csv or netcdf")->check(CLI::IsMember({"json", "csv", "netcdf"}))
      ->capture_default_str();
  results->add_option("--out", s->out, "Write to this file instead of stdout");
  CLI::App* cancel = common(app.add_subcommand("cancel", "Cancel a queued or running query"));
  cancel->add_option("id", s->id, "Query id")->required();
  CLI::App* list = common(app.add_subcommand("list", "List the daemon's queries"));
  list->add_option("--state", s->state, "Only queries in this state");

  return [=]() -> std::optional<int> {
    const bool any = submit->parsed() || status->parsed() || wait->parsed() || results->parsed() || cancel->parsed() ||
                     list->parsed();
    if (!any) return std::nullopt;
    try {
      Client client(s->client);
      if (submit->parsed()) {
        json query = {{"model", s->model}, {"engine", s->engine}, {"traces", s->traces}, {"seed", s->seed}};
        json observations = json::object();
        for (const std::string& spec : s->observe) {
          auto [name, value] = observation(client, spec);
          observations[name] = value;
        }
        if (!observations.empty()) query["observations"] = observations;
        for (const std::string& kv : s->options) {
          const auto eq = kv.find('=');
          if (eq == std::string::npos) throw std::invalid_argument("--option '" + kv + "' is not KEY=VALUE");
          try {
            query[kv.substr(0, eq)] = json::parse(kv.substr(eq + 1));
          } catch (const json::parse_error&) {
            query[kv.substr(0, eq)] = kv.substr(eq + 1);
          }
        }
        const json job = expect(client.request(http::verb::post, "/v1/queries", query.dump()), 201);
        std::cout << job.at("id").get<std::string>() << std::endl;
        return s->wait ? final_code(follow(client, job.at("id"), s->quiet)) : 0;
      }
      if (status->parsed()) {
        std::cout << expect(client.request(http::verb::get, "/v1/queries/" + s->id), 200).dump(2) << "\n";
        return 0;
      }
      if (wait->parsed()) return final_code(follow(client, s->id, s->quiet));
      if (results->parsed()) {
        const Reply r = client.request(http::verb::get, "/v1/queries/" + s->id + "/results?format=" + s->format);
        if (r.status != 200) expect(r, 200);
        if (s->out.empty()) {
          std::cout << r.body;
        } else {
          std::ofstream(s->out, std::ios::binary) << r.body;
        }
        return 0;
      }
      if (cancel->parsed()) {
        std::cout << expect(client.request(http::verb::post, "/v1/queries/" + s->id + "/cancel"), 200).value("state", "")
                  << "\n";
        return 0;
      }
      const json jobs =
          expect(client.request(http::verb::get, "/v1/queries" + (s->state.empty() ? "" : "?state=" + s->state)), 200);
      for (const json& j : jobs) {
        std::cout << fmt::format("{}  {:<12} {:<6} {:<10} {}/{}\n", j.value("id", ""), j.value("model", ""),
                                 j.value("engine", ""), j.value("state", ""), j["progress"].value("done", 0),
                                 j["progress"].value("total", 0));
      }
      return 0;
    } catch (const std::invalid_argument& e) {
      std::cerr << "ppx: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "ppx: " << e.what() << "\n";
      return 1;
    }
  };
}

}  // namespace ppx::cli
