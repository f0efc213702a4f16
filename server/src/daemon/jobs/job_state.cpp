#include "job_state.h"

namespace ppx::daemon {

std::string_view state_name(JobState state) {
  switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Finished: return "finished";
    case JobState::Failed: return "failed";
    case JobState::Cancelled: return "cancelled";
    case JobState::Interrupted: return "interrupted";
  }
  return "unknown";
}

std::optional<JobState> parse_job_state(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (state_name(s) == name) return s;
  }
  return std::nullopt;
}

bool is_final(JobState state) { return state != JobState::Queued && state != JobState::Running; }

bool transition_allowed(JobState from, JobState to) {
  using S = JobState;
  switch (from) {
    case S::Queued: return to == S::Running || to == S::Cancelled || to == S::Interrupted;
    case S::Running:
      return to == S::Finished || to == S::Failed || to == S::Cancelled || to == S::Interrupted;
    case S::Interrupted: return to == S::Queued;
    case S::Finished:
    case S::Failed:
    case S::Cancelled: return false;
  }
  return false;
}

}  // namespace ppx::daemon
