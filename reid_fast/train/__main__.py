"""``python -m reid_fast.train``: the documented entry point, the same as ``reid-fast train``."""

from ..cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
