#pragma once
// The daemon's one ZeroMQ context (I/O threads are per context; sockets are per simulator).
#include <zmq.hpp>

namespace ppx::server::detail {

inline zmq::context_t& zmq_context() {
  static zmq::context_t context(1);
  return context;
}

}  // namespace ppx::server::detail
