"""python -m gonogo: lint, plan and scaffold migration batches (gonogo.cli)."""

from __future__ import annotations

from gonogo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
