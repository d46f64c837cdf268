"""The rehearsal copy and the restore drill: production's snapshot restored into staging, and
point-in-time recovery proved on a scratch cluster."""
