"""seknet's command line, as a script: ``python search.py [run|export|retrain|latency|check|flops] ...``.

The same commands are installed as the ``seknet`` console command (``seknet run ...``); both call
:func:`seknet.api.cli.main`. Run ``python search.py --help`` for the commands and their flags.
"""

from __future__ import annotations

import sys

from seknet.api.cli import build_parser, main, parse_macs, parse_ms  # noqa: F401 - the names tests and scripts use

if __name__ == "__main__":
    sys.exit(main())
