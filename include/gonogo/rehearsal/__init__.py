"""The dry run on the staging copy: each migration applied while the app's queries run, its
locks, plans and contracts measured, the rollbacks rehearsed, observability compared."""
