"""Production changes: the one step loop over one history plan, the rollout lock, the
low-traffic window, batched backfills, and what a run applied and undid."""
