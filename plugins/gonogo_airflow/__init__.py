"""Airflow-facing glue for gonogo: connections to Targets, run context, Slack, callbacks.

The domain logic lives in include/gonogo and never imports Airflow; this package is the
only place that knows about task contexts, connections and XComs.
"""
