"""Errors gonogo raises on purpose. Each message says what is wrong and what to do."""


class GonogoError(Exception):
    """Base of every error gonogo raises on purpose (as opposed to a bug)."""


class SetupError(GonogoError):
    """The machine lacks something gonogo needs (server binaries, an OS user)."""


class BatchError(GonogoError):
    """A batch folder or its manifest is malformed."""


class TargetError(GonogoError):
    """A database cannot be reached or is not what it should be."""


class NotMeasured(GonogoError):
    """A measurement cannot be made here (an extension missing, a privilege lacking): the
    caller shows "not measured (why)", never a pass."""


class StepFailed(GonogoError):
    """A migration step failed while applying or validating."""

    def __init__(self, message: str, *, step: str, results: list | None = None, before_changes: bool = False):
        super().__init__(message)
        self.step = step
        self.results = results or []
        self.before_changes = before_changes  # failed before anything was changed


class GatesFailed(GonogoError):
    """One or more gates measured FAIL: the rollout must not go on."""

    def __init__(self, results: list):
        failed = [r for r in results if r.failed]
        super().__init__(f"No-Go: {len(failed)} gates failed: " + "; ".join(
            f"{r.title}{' (' + r.subject + ')' if r.subject else ''}: {r.value}" for r in failed))
        self.results = results
