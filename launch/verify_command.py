"""``fairdrop verify-draw URL [--round N] [--expect-seed-hash H] [--receipt FILE]``.

Prints one JSON line (verified, entrants, reason, and what was checked) and
exits 0 only when everything checked out. Anything that leaves nothing to
verify (an unreachable server, a URL that is not a draw, an unknown event, an
unreadable receipt file) is one plain line on stderr and exit status 2, never
a traceback. So is a receipt of another draw than the one asked about (a
resale round's receipt without its ``--round``, or with another's): the line
says which to check instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_verify_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    verify = sub.add_parser("verify-draw", help="recompute a published draw from its URL")
    verify.add_argument("url", help="e.g. http://127.0.0.1:8000/api/events/<id>/draw")
    verify.add_argument(
        "--expect-seed-hash",
        metavar="HASH",
        help="the seed hash you saw before the drop: the draw must still commit to it",
    )
    verify.add_argument(
        "--receipt",
        metavar="FILE",
        type=Path,
        help="an entry receipt (the fan page's download): its entry must be in the draw "
        "(a resale round's receipt: with that --round)",
    )
    verify.add_argument(
        "--round",
        metavar="N",
        type=_round_number,
        help="check resale round N of the sale instead (--expect-seed-hash: the round's)",
    )
    verify.add_argument(
        "--receipt-key",
        metavar="HEX",
        help="the server's Ed25519 receipt key you pinned (default: the key it serves)",
    )


def _round_number(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a round is numbered from 1, not {text!r}")
    return int(text)


def run_verify(args: argparse.Namespace) -> int:
    from buffer.verify import VerifyError, verify_draw
    from buffer.verify_round import verify_round

    receipt: object = None
    if args.receipt is not None:
        try:
            receipt = json.loads(args.receipt.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(f"verify-draw: cannot read the receipt {args.receipt}: {exc}", file=sys.stderr)
            return 2
    try:
        if args.round is not None:
            verdict = verify_round(
                args.url, args.round, args.expect_seed_hash, receipt, args.receipt_key
            )
        else:
            verdict = verify_draw(args.url, args.expect_seed_hash, receipt, args.receipt_key)
    except VerifyError as exc:
        print(f"verify-draw: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(verdict.as_json()))
    return 0 if verdict.ok else 1
