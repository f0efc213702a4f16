#pragma once
// The HTTP/JSON API as plain functions of a request: a thin layer over InferenceService.
// No sockets here (http_server.cpp carries bytes); the one error-to-status map is http_status().
//
//   GET  /                                 the page (HTML, server-side SVG plots)
//   GET  /livez, /readyz, /metrics, /openapi.json
//   GET  /v1/models
//   POST /v1/queries                       -> 201, Location: /v1/queries/{id}
//   GET  /v1/queries[?state=S]
//   GET  /v1/queries/{id}
//   GET  /v1/queries/{id}/events           Server-Sent Events (served by http_server.cpp)
//   POST /v1/queries/{id}/cancel, /v1/queries/{id}/requeue
//   GET  /v1/queries/{id}/results?format=json|csv|netcdf
//   GET  /v1/queries/{id}/plots/{variable}.svg
//   POST /v1/observations                  body: an .npy file -> 201 {"id"}
// Every error body is {"error": {"code", "message"}}.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "service.h"

namespace ppx::daemon {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> params;  // decoded query string
  std::string body;
  std::string authorization;  // the Authorization header
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

int http_status(ErrorCode code);
ApiResponse error_response(ErrorCode code, const std::string& message);
// Splits "path?a=1&b=2" and percent-decodes.
void split_target(const std::string& target, ApiRequest& request);

class Routes {
 public:
  Routes(InferenceService& service, const DaemonConfig& config) : service_(service), config_(config) {}
  ApiResponse handle(const ApiRequest& request) const;
  // Throws ServiceError(Unauthorized) unless the request carries the token (when one is set).
  void authorize(const ApiRequest& request) const;
  // For SSE: the id in /v1/queries/{id}/events, or "" if the path is something else.
  static std::string events_id(const ApiRequest& request);

 private:
  ApiResponse dispatch(const ApiRequest& request) const;
  InferenceService& service_;
  const DaemonConfig& config_;
};

// The page and its plots (page.cpp).
std::string page_html(const InferenceService& service, const std::string& token_param);
std::string variable_svg(const InferenceService& service, const std::string& id, const std::string& variable);
// The OpenAPI 3 document (openapi.cpp).
const std::string& openapi_json();

}  // namespace ppx::daemon
