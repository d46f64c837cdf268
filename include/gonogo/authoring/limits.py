"""How large a batch's inputs may be, and YAML read without aliases.

Whatever a batch holds ends up in the approval body, the reports, Slack and the logs: a 20 MB
manifest title became a 20 MB approval body and 40 MB reports, and a YAML alias bomb (aliases
of aliases, each doubling) kept the lint busy past two minutes. Every input is refused before
it is parsed when it is larger than its limit, with the file, the line and what to do.
"""

from __future__ import annotations

from pathlib import Path

from gonogo.errors import BatchError

# Parsing SQL costs about 3 s and 40 MB of memory per MB (tests/bench/test_bench_lint_cli.py):
# a migration larger than this is a data load, whose risky statements are its few DDL ones.
MAX_SQL_BYTES = 5 * 1024 * 1024
MAX_YAML_BYTES = 1024 * 1024      # a manifest, query parameters, a tool's overrides
MAX_VALUE_CHARS = 10_000          # one string in a manifest (a title: 200, in the manifest's schema)


def too_large(path: Path, limit: int, what: str, fix: str) -> None:
    """BatchError when the file at `path` is larger than `limit` bytes."""
    if (size := Path(path).stat().st_size) > limit:
        raise BatchError(f"{path} line 1: {size:,} bytes, more than the {_size(limit)} a {what} may be; {fix}")


def _no_aliases():
    """safe_load's loader without anchors' aliases: a manifest needs none, and each alias may
    double what the next one expands to. (yaml is imported here: the lint alone, which reads SQL
    files through this module's limits, does not install it.)"""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.MarkedYAMLError(problem="an alias (*name) is not allowed: write the value out",
                                           problem_mark=mark)
            return super().compose_node(parent, index)
    return NoAliases


def read_yaml(path: Path, what: str) -> object:
    """The YAML file at `path`, within MAX_YAML_BYTES, as UTF-8 and without aliases; BatchError
    naming the file, the line and what to do otherwise."""
    import yaml

    from gonogo.postgres.sqlfile import read_text

    too_large(path, MAX_YAML_BYTES, what, "keep SQL in .sql files and data out of it")
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_no_aliases())  # noqa: S506 - a SafeLoader, without aliases
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BatchError(f"{path}{where}: {what} is not valid YAML: {problem}") from None


def long_values(data: object, where: str) -> list[str]:
    """What in `data` is a string longer than MAX_VALUE_CHARS, each named by its path."""
    if isinstance(data, str):
        return ([f"{where}: {len(data):,} characters, more than the {MAX_VALUE_CHARS:,} a value may have; "
                 f"put long text in a file the manifest names"] if len(data) > MAX_VALUE_CHARS else [])
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in long_values(value, f"{where}.{key}")]
    if isinstance(data, list):
        return [p for i, value in enumerate(data) for p in long_values(value, f"{where}[{i}]")]
    return []


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB" if n >= 2**10 else f"{n} bytes"
