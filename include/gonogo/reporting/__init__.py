"""What people read: the Go/No-Go report and its charts, the run's outcome, Slack's messages,
and who signs the rollout off."""
