"""Preflight and production gates: one module per gate, each returning GateResults."""
