#pragma once
// A job's life (Triton's habit: an explicit state machine, transitions in one table).
//
//   queued ──> running ──> finished | failed | cancelled | interrupted
//     │                                                       │
//     ├──> cancelled                 interrupted ──> queued (re-queue on request)
//     └──> interrupted (daemon stopped before it ran)
//
// `interrupted` means the daemon stopped (or died) under the job; what it had is kept.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ppx::daemon {

enum class JobState { Queued, Running, Finished, Failed, Cancelled, Interrupted };

inline constexpr JobState kAllJobStates[] = {JobState::Queued,    JobState::Running,   JobState::Finished,
                                             JobState::Failed,    JobState::Cancelled, JobState::Interrupted};

std::string_view state_name(JobState state);
std::optional<JobState> parse_job_state(std::string_view name);
// No further transition except an explicit re-queue of an interrupted job.
bool is_final(JobState state);
// The one place that says which transitions exist.
bool transition_allowed(JobState from, JobState to);

class InvalidTransition : public std::logic_error {
 public:
  InvalidTransition(JobState from, JobState to)
      : std::logic_error("a " + std::string(state_name(from)) + " job cannot become " + std::string(state_name(to))) {}
};

}  // namespace ppx::daemon
