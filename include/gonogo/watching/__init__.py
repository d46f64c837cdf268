"""The watch window after the batch: production's metrics against the baseline (and the
samples of the same hours before), judged by a rank test, with the window's status for the report."""
