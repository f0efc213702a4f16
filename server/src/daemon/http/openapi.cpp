// /openapi.json: the API as OpenAPI 3.0. The document is http/openapi.json, embedded at build time.
#include "routes.h"

namespace ppx::daemon {

const std::string& openapi_json() {
  static const std::string text =
#include "openapi.json.inc"
      ;
  return text;
}

}  // namespace ppx::daemon
