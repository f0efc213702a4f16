#pragma once
// The FlatBuffers API generated from ppx.fbs (build/protocol/generated/ppx_generated.h), for the
// codec and this repository's protocol tests only; never included by a public header.
//
// ppx.fbs keeps PPX 1.0's `namespace ppx`, so the same schema still generates pyprob-compatible
// code in any language. In C++ that namespace would collide with ppx::Tensor, ppx::Distribution,
// ppx::Normal() and friends from ppx::core, so the generated code is nested one level down:
// ppx_wire::ppx::Message. (The generated header has a single `namespace ppx` block and no includes
// besides flatbuffers.h, which is included here first so its guard keeps it at global scope.)
#include <flatbuffers/flatbuffers.h>

namespace ppx_wire {
#include "ppx_generated.h"
}  // namespace ppx_wire

namespace ppx::protocol::detail {
namespace fb = ::ppx_wire::ppx;
}  // namespace ppx::protocol::detail
