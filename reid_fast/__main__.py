"""``python -m reid_fast <command> ...``: the same as the ``reid-fast`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
