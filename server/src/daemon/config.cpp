#include "config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace ppx::daemon {
namespace {

// "FILE:LINE: KEY: message" for a node (the line where the value stands).
[[noreturn]] void fail(const std::string& file, const toml::node* node, const std::string& key, const std::string& what) {
  std::string where = file;
  if (node != nullptr && node->source().begin.line > 0) where += ":" + std::to_string(node->source().begin.line);
  throw ConfigError(where + ": " + key + ": " + what);
}

class Reader {
 public:
  Reader(std::string file, const toml::table& table, std::string prefix)
      : file_(std::move(file)), table_(table), prefix_(std::move(prefix)) {}

  template <typename T>
  bool get(const std::string& key, T& out) {
    seen_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return false;
    if constexpr (std::is_same_v<T, std::string>) {
      if (!node->is_string()) fail(file_, node, name(key), "must be a string");
      out = **node->as_string();
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      const toml::array* array = node->as_array();
      if (array == nullptr) fail(file_, node, name(key), "must be an array of strings");
      out.clear();
      for (const toml::node& item : *array) {
        if (!item.is_string()) fail(file_, &item, name(key), "must be an array of strings");
        out.push_back(**item.as_string());
      }
    } else {
      if (!node->is_integer()) fail(file_, node, name(key), "must be an integer");
      const std::int64_t value = **node->as_integer();
      if (value < 0) fail(file_, node, name(key), "must not be negative");
      out = static_cast<T>(value);
      if (static_cast<std::int64_t>(out) != value) fail(file_, node, name(key), "is too large");
    }
    return true;
  }

  // Unknown keys are errors: a misspelt option must not be silently ignored.
  void reject_unknown() const {
    for (const auto& [key, node] : table_) {
      if (!seen_.count(std::string(key.str()))) fail(file_, &node, name(std::string(key.str())), "unknown key");
    }
  }
  const toml::node* node(const std::string& key) const { return table_.get(key); }
  std::string name(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

 private:
  std::string file_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> seen_;
};

const toml::table& table_at(const std::string& file, const toml::table& root, const std::string& key) {
  static const toml::table empty;
  const toml::node* node = root.get(key);
  if (node == nullptr) return empty;
  if (!node->is_table()) fail(file, node, key, "must be a table");
  return *node->as_table();
}

void parse_listen(const std::string& file, const toml::node* node, const std::string& listen, DaemonConfig& config) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) fail(file, node, "server.listen", "must be HOST:PORT, got '" + listen + "'");
  config.host = listen.substr(0, colon);
  if (config.host.size() > 2 && config.host.front() == '[' && config.host.back() == ']') {
    config.host = config.host.substr(1, config.host.size() - 2);
  }
  try {
    std::size_t used = 0;
    const unsigned long port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
    config.port = static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    fail(file, node, "server.listen", "port must be a number from 0 to 65535, got '" + listen + "'");
  }
}

}  // namespace

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void DaemonConfig::validate() const {
  if (data_dir.empty()) throw ConfigError("server.data_dir: required (the folder for results and the job index)");
  if (!is_loopback(host) && token.empty()) {
    throw ConfigError("server.token: required when server.listen is not a loopback address ('" + host + "')");
  }
  if (models.empty()) throw ConfigError("models: at least one [models.NAME] table is required");
  if (limits.running_jobs == 0) throw ConfigError("limits.running_jobs: must be at least 1");
  if (http_threads == 0) throw ConfigError("server.http_threads: must be at least 1");
  for (const ModelConfig& m : models) {
    if (m.pool.command.empty() && m.pool.connect.empty()) {
      if (registration.empty()) {
        throw ConfigError("models." + m.name + ": give simulator = \"CMD {endpoint}\", connect = [...], or set "
                          "server.registration so simulators can join");
      }
      continue;
    }
    try {
      m.pool.validate();
    } catch (const std::invalid_argument& e) {
      throw ConfigError("models." + m.name + ": " + e.what());
    }
  }
}

DaemonConfig parse_config(const std::string& text, const std::string& file) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw ConfigError(file + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  DaemonConfig config;
  {
    const toml::table& t = table_at(file, root, "server");
    Reader r(file, t, "server");
    std::string listen;
    if (r.get("listen", listen)) parse_listen(file, r.node("listen"), listen, config);
    r.get("data_dir", config.data_dir);
    r.get("token", config.token);
    r.get("registration", config.registration);
    r.get("http_threads", config.http_threads);
    r.reject_unknown();
  }
  {
    Reader r(file, table_at(file, root, "limits"), "limits");
    r.get("running_jobs", config.limits.running_jobs);
    r.get("queued_jobs", config.limits.queued_jobs);
    r.get("body_bytes", config.limits.body_bytes);
    r.get("traces", config.limits.traces);
    r.get("connections", config.limits.connections);
    r.reject_unknown();
  }
  for (const auto& [name, node] : table_at(file, root, "models")) {
    const std::string prefix = "models." + std::string(name.str());
    if (!node.is_table()) fail(file, &node, prefix, "must be a table");
    Reader r(file, *node.as_table(), prefix);
    ModelConfig model{.name = std::string(name.str())};
    r.get("simulator", model.pool.command);
    r.get("workers", model.pool.workers);
    r.get("connect", model.pool.connect);
    if (r.get("job_simulators", model.job_simulators) && (model.job_simulators == 0 || model.job_simulators > 4096)) {
      fail(file, r.node("job_simulators"), prefix + ".job_simulators", "must be between 1 and 4096");
    }
    long handshake_ms = model.pool.remote.handshake_timeout.count(), reply_ms = model.pool.remote.reply_timeout.count();
    r.get("handshake_timeout_ms", handshake_ms);
    r.get("reply_timeout_ms", reply_ms);
    model.pool.remote.handshake_timeout = std::chrono::milliseconds(handshake_ms);
    model.pool.remote.reply_timeout = std::chrono::milliseconds(reply_ms);
    r.reject_unknown();
    try {
      // A model with neither command nor endpoints waits for registrations (checked in validate()).
      if (!model.pool.command.empty() || !model.pool.connect.empty()) model.pool.validate();
    } catch (const std::invalid_argument& e) {
      fail(file, &node, prefix, e.what());
    }
    config.models.push_back(std::move(model));
  }
  // Top-level keys other than the three sections.
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    if (k != "server" && k != "limits" && k != "models") fail(file, &node, k, "unknown key");
  }
  config.validate();
  return config;
}

DaemonConfig load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), path);
}

}  // namespace ppx::daemon
