"""Each preflight gate has one name at every level: the task check_<name>, the module
gonogo/gates/<name>.py with its function <name>, and the gate id of what it returns."""

from __future__ import annotations

import importlib
import inspect

from gonogo.gates.preflight import PREFLIGHT


def test_each_preflight_gate_is_one_name_from_task_to_result():
    for gate in PREFLIGHT:
        module = importlib.import_module(f"gonogo.gates.{gate.name}")
        source = inspect.getsource(module)
        assert f'gate="{gate.name}"' in source, f"gonogo/gates/{gate.name}.py returns another gate id"
        if gate.name != "commands":  # the team's commands: one result per command (run_command)
            assert callable(getattr(module, gate.name, None)), f"gonogo/gates/{gate.name}.py has no {gate.name}()"
