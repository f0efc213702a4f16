#include "registration.h"

#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <zmq.h>

namespace ppx::daemon {

struct RegistrationEndpoint::Impl {
  Impl(InferenceService& s, std::function<void(const std::string&)> l) : service(s), log(std::move(l)) {}
  InferenceService& service;
  std::function<void(const std::string&)> log;
  void* context = nullptr;
  void* socket = nullptr;
  std::atomic<bool> stopping{false};
  std::string bound;
  std::thread thread;

  std::string answer(const std::string& request) {
    try {
      const nlohmann::json j = nlohmann::json::parse(request);
      if (!j.is_object() || !j.contains("model") || !j["model"].is_string() || !j.contains("endpoint") ||
          !j["endpoint"].is_string()) {
        return nlohmann::json{{"ok", false},
                              {"error", "send {\"model\": NAME, \"endpoint\": \"tcp://HOST:PORT\"} (and \"leave\": true to leave)"}}
            .dump();
      }
      const bool leave = j.contains("leave") && j["leave"] == true;
      nlohmann::json out = leave ? service.deregister_simulator(j["model"], j["endpoint"])
                                 : service.register_simulator(j["model"], j["endpoint"]);
      out["ok"] = true;
      return out.dump();
    } catch (const std::exception& e) {
      return nlohmann::json{{"ok", false}, {"error", e.what()}}.dump();
    }
  }

  void loop() {
    constexpr std::size_t kMax = 64 * 1024;
    std::string buffer(kMax + 1, '\0');
    while (!stopping.load()) {
      zmq_pollitem_t item{socket, 0, ZMQ_POLLIN, 0};
      if (zmq_poll(&item, 1, 200) <= 0 || !(item.revents & ZMQ_POLLIN)) continue;
      const int n = zmq_recv(socket, buffer.data(), buffer.size(), 0);
      if (n < 0) continue;
      const std::string reply = static_cast<std::size_t>(n) > kMax
                                    ? nlohmann::json{{"ok", false}, {"error", "message larger than 64 KiB"}}.dump()
                                    : answer(buffer.substr(0, static_cast<std::size_t>(n)));
      zmq_send(socket, reply.data(), reply.size(), 0);
    }
  }
};

RegistrationEndpoint::RegistrationEndpoint(InferenceService& service, const std::string& endpoint,
                                           std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>(service, std::move(log))) {
  impl_->context = zmq_ctx_new();
  impl_->socket = zmq_socket(impl_->context, ZMQ_REP);
  const int linger = 0;
  zmq_setsockopt(impl_->socket, ZMQ_LINGER, &linger, sizeof linger);
  const std::int64_t max_size = 64 * 1024;
  zmq_setsockopt(impl_->socket, ZMQ_MAXMSGSIZE, &max_size, sizeof max_size);
  if (zmq_bind(impl_->socket, endpoint.c_str()) != 0) {
    const std::string error = zmq_strerror(zmq_errno());
    zmq_close(impl_->socket);
    zmq_ctx_term(impl_->context);
    throw std::runtime_error("cannot bind the registration endpoint " + endpoint + ": " + error);
  }
  char bound[256] = {};
  std::size_t size = sizeof bound;
  zmq_getsockopt(impl_->socket, ZMQ_LAST_ENDPOINT, bound, &size);
  impl_->bound = bound;
  impl_->thread = std::thread([this] { impl_->loop(); });
}

RegistrationEndpoint::~RegistrationEndpoint() { stop(); }

const std::string& RegistrationEndpoint::endpoint() const { return impl_->bound; }

void RegistrationEndpoint::stop() {
  if (!impl_->thread.joinable()) return;
  impl_->stopping = true;
  impl_->thread.join();
  zmq_close(impl_->socket);
  zmq_ctx_term(impl_->context);
}

}  // namespace ppx::daemon
