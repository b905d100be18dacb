"""``python tests/faults/fault_suite/run.py [--cases N] [--db URL]``: one run
of the whole-platform fault suite (see ``driver.py``)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

# nameko's and eventlet's import-time notices are not part of the table
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

HERE = Path(__file__).resolve().parent
# the suite's package and the benches' generator (tests/bench) importable
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1] / "bench")]

from fault_suite.driver import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
