#include "ppx/core/handler.h"

namespace ppx {
namespace {
thread_local Handler* t_current = nullptr;
}

Handler* current_handler() noexcept { return t_current; }

ScopedHandler::ScopedHandler(Handler& handler) noexcept : previous_(t_current) {
  t_current = &handler;
}

ScopedHandler::~ScopedHandler() { t_current = previous_; }

}  // namespace ppx
