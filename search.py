"""seknet command line: a thin layer over the ``seknet`` library.

    python search.py flops --space S --arch A [--json]    params and MACs of one arch
    python search.py flops --space S --all [--json]       the whole space, sorted by MACs

Bad input prints one line naming the problem and the fix, and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import seknet

DEFAULT_SPACE = "search_space/digits.yaml"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors follow the one-line rule too
        raise UsageError(f"{self.prog}: {message}; see --help")


def _flops(args: argparse.Namespace) -> int:
    space = seknet.load_space(args.space)
    if args.all == (args.arch is not None):
        raise UsageError("flops: give exactly one of --arch A or --all")
    archs = space.archs() if args.all else [space.parse(args.arch)]
    rows = sorted(((a, seknet.count(a)) for a in archs), key=lambda r: (r[1].macs, r[1].params, str(r[0])))
    if args.json:
        out = [
            {"arch": str(a), "space": space.name, "params": c.params, "macs": c.macs, "attn_ops": c.attn_ops}
            for a, c in rows
        ]
        print(json.dumps(out if args.all else out[0]))
        return 0
    width = max(len(str(a)) for a, _ in rows)
    print(f"{'arch':<{width}}  {'params':>12}  {'MACs':>15}  {'attn ops':>12}   (space {space.name}, per image)")
    for a, c in rows:
        print(f"{str(a):<{width}}  {c.params:>12,}  {c.macs:>15,}  {c.attn_ops:>12,}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="search.py", description="Find where attention (SE, SK) belongs in a CNN.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    f = sub.add_parser("flops", help="exact params and MACs of an arch, or of the whole space")
    f.add_argument("--space", default=DEFAULT_SPACE, help="space YAML (default: %(default)s)")
    f.add_argument("--arch", help="one choice per stage joined by '-', e.g. se16-none-sk3-se4")
    f.add_argument("--all", action="store_true", help="every arch of the space, sorted by MACs")
    f.add_argument("--json", action="store_true", help="print JSON instead of a table")
    f.set_defaults(func=_flops)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # the default job, until the search lands: the digits space tabulated
        argv = ["flops", "--all"]
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("search.py: give a command (flops); see --help")
        return args.func(args)
    except (UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `python search.py | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
