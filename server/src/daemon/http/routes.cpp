#include "routes.h"

#include <nlohmann/json.hpp>

namespace ppx::daemon {

using nlohmann::json;

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadRequest: return 400;
    case ErrorCode::Unauthorized: return 401;
    case ErrorCode::NotFound: return 404;
    case ErrorCode::Conflict: return 409;
    case ErrorCode::PayloadTooLarge: return 413;
    case ErrorCode::TooManyRequests: return 429;
    case ErrorCode::Unavailable: return 503;
    case ErrorCode::Internal: return 500;
  }
  return 500;
}

ApiResponse error_response(ErrorCode code, const std::string& message) {
  ApiResponse r;
  r.status = http_status(code);
  r.body = json{{"error", {{"code", error_code_name(code)}, {"message", message}}}}.dump();
  if (code == ErrorCode::Unauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

namespace {

std::string percent_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// "/v1/queries/ID/cancel" -> {"v1", "queries", "ID", "cancel"}
std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = path.find('/', start);
    const std::string piece = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!piece.empty()) out.push_back(piece);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

ApiResponse json_response(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

json parse_body(const std::string& body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    throw ServiceError(ErrorCode::BadRequest, std::string("malformed JSON: ") + e.what());
  }
}

[[noreturn]] void method_not_allowed(const ApiRequest& request) {
  throw ServiceError(ErrorCode::NotFound, "no " + request.method + " " + request.path + " (see /openapi.json)");
}

}  // namespace

void split_target(const std::string& target, ApiRequest& request) {
  const std::size_t q = target.find('?');
  request.path = percent_decode(target.substr(0, q));
  if (q == std::string::npos) return;
  const std::string query = target.substr(q + 1);
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string pair = query.substr(start, end - start);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      request.params[percent_decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    }
    start = end + 1;
  }
}

void Routes::authorize(const ApiRequest& request) const {
  if (config_.token.empty()) return;
  if (request.authorization == "Bearer " + config_.token) return;
  // Browsers cannot add a header to a page load: the page may carry ?token=.
  if (auto it = request.params.find("token"); it != request.params.end() && it->second == config_.token) return;
  throw ServiceError(ErrorCode::Unauthorized, "this daemon needs its token: send 'Authorization: Bearer TOKEN'");
}

std::string Routes::events_id(const ApiRequest& request) {
  const auto s = segments(request.path);
  if (request.method == "GET" && s.size() == 4 && s[0] == "v1" && s[1] == "queries" && s[3] == "events") return s[2];
  return "";
}

ApiResponse Routes::handle(const ApiRequest& request) const {
  try {
    if (request.path != "/livez" && request.path != "/readyz") authorize(request);
    return dispatch(request);
  } catch (const ServiceError& e) {
    return error_response(e.code(), e.what());
  } catch (const std::exception& e) {
    return error_response(ErrorCode::Internal, e.what());
  }
}

ApiResponse Routes::dispatch(const ApiRequest& request) const {
  const auto s = segments(request.path);
  const bool get = request.method == "GET", post = request.method == "POST";
  if (s.empty()) {
    if (!get) method_not_allowed(request);
    ApiResponse r;
    r.content_type = "text/html; charset=utf-8";
    auto token = request.params.find("token");
    r.body = page_html(service_, token == request.params.end() ? "" : token->second);
    return r;
  }
  if (s.size() == 1 && get) {
    if (s[0] == "livez") return json_response(200, {{"status", "alive"}});
    if (s[0] == "readyz") return json_response(200, {{"status", "ready"}});
    if (s[0] == "openapi.json") {
      ApiResponse r;
      r.body = openapi_json();
      return r;
    }
    if (s[0] == "metrics") {
      ApiResponse r;
      r.content_type = "text/plain; version=0.0.4";
      r.body = service_.metrics();
      return r;
    }
  }
  if (s.size() < 2 || s[0] != "v1") method_not_allowed(request);
  if (s[1] == "models" && s.size() == 2 && get) return json_response(200, service_.models());
  if (s[1] == "observations" && s.size() == 2 && post) {
    return json_response(201, {{"id", service_.upload_observation(request.body)}});
  }
  if (s[1] != "queries") method_not_allowed(request);
  if (s.size() == 2) {
    if (post) {
      json job = service_.submit(parse_body(request.body));
      ApiResponse r = json_response(201, job);
      r.headers.emplace_back("Location", "/v1/queries/" + job["id"].get<std::string>());
      return r;
    }
    if (get) {
      std::optional<JobState> state;
      if (auto it = request.params.find("state"); it != request.params.end()) {
        state = parse_job_state(it->second);
        if (!state) {
          throw ServiceError(ErrorCode::BadRequest, "state must be queued, running, finished, failed, cancelled or "
                                                    "interrupted, not '" + it->second + "'");
        }
      }
      return json_response(200, service_.list(state));
    }
    method_not_allowed(request);
  }
  const std::string& id = s[2];
  if (s.size() == 3 && get) return json_response(200, service_.status(id));
  if (s.size() == 4 && post && s[3] == "cancel") return json_response(200, service_.cancel(id));
  if (s.size() == 4 && post && s[3] == "requeue") return json_response(200, service_.requeue(id));
  if (s.size() == 4 && get && s[3] == "results") {
    auto it = request.params.find("format");
    const ResultFile file = service_.results(id, it == request.params.end() ? "json" : it->second);
    ApiResponse r;
    r.content_type = file.content_type;
    r.body = file.body;
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + file.filename + "\"");
    return r;
  }
  if (s.size() == 5 && get && s[3] == "plots" && s[4].size() > 4 && s[4].ends_with(".svg")) {
    ApiResponse r;
    r.content_type = "image/svg+xml";
    r.body = variable_svg(service_, id, s[4].substr(0, s[4].size() - 4));
    return r;
  }
  method_not_allowed(request);
}

}  // namespace ppx::daemon
