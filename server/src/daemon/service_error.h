#pragma once
// The errors the service API raises. Front ends map the code to their own terms in one place
// (the HTTP map is http_status() in http/routes.cpp); the message says what to fix.
#include <stdexcept>
#include <string>
#include <string_view>

namespace ppx::daemon {

enum class ErrorCode { BadRequest, Unauthorized, NotFound, Conflict, PayloadTooLarge, TooManyRequests, Unavailable, Internal };

inline std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::BadRequest: return "bad_request";
    case ErrorCode::Unauthorized: return "unauthorized";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Conflict: return "conflict";
    case ErrorCode::PayloadTooLarge: return "payload_too_large";
    case ErrorCode::TooManyRequests: return "too_many_requests";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::Internal: return "internal";
  }
  return "internal";
}

class ServiceError : public std::runtime_error {
 public:
  ServiceError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace ppx::daemon
