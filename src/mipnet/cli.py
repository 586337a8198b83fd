"""Command-line entry point ``mipnet`` (minimal: subcommands register themselves)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mipnet", description="mipnet command-line tool")
    sub = parser.add_subparsers(dest="command", required=True)
    from mipnet.verify import cli as verify_cli

    verify_cli.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
