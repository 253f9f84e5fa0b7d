# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam``: anomalib's CLI with this package's models, plus its own subcommands.

- ``anomalib-contam benchmark --config GRID.yaml``: the benchmark runner.
- ``anomalib-contam benchmark --suite latency``: inference and training-step latency (``latency.py``).
- ``anomalib-contam quickstart``: the embedded default job (ELPV, packaged weights, offline).
- ``anomalib-contam audit --images DIR --ckpt CKPT``: rank a "good" folder by suspicion (ADL / AD2 / PaDiM).
- ``anomalib-contam reproduce --results CSV --row N``: re-run one results row and compare (``reproduce.py``).
- anything else (``train``, ``test``, ``export``, ``predict``, ...) is anomalib's own CLI, with
  the plugin's models already registered.
"""

from __future__ import annotations

import argparse
import sys

OWN_COMMANDS = {
    "benchmark": "run a benchmark grid (models x data x settings x seeds) through anomalib's Engine",
    "quickstart": "train DevNet on ELPV offline, test, export to OpenVINO and run the exported model",
    "report": "refresh the result tables in the READMEs from benchmarks/results/*/results.csv",
    "audit": 'rank a folder of "good" images by suspicion (ADL/AD2): training_audit.csv + an HTML page',
    "reproduce": "re-run one row of a benchmark results CSV from its grid and seed; compare AUROC and manifest",
}


def _benchmark(argv: list[str]) -> int:
    suite = argparse.ArgumentParser(add_help=False)
    suite.add_argument("--suite", choices=["latency"], default=None)
    known, rest = suite.parse_known_args(argv)
    if known.suite == "latency":  # its own options: anomalib-contam benchmark --suite latency --help
        from anomalib_contam.latency import main as latency_main

        return latency_main(rest)
    parser = argparse.ArgumentParser(prog="anomalib-contam benchmark", description=OWN_COMMANDS["benchmark"])
    parser.add_argument("--suite", choices=["latency"], help="a built-in suite instead of a grid (no --config)")
    parser.add_argument("--config", required=True, help="grid YAML (see benchmarks/*.yaml)")
    parser.add_argument("--results-root", default="benchmarks/results", help="folder of the suites' results")
    parser.add_argument("--work-dir", default="results/benchmark", help="where runs write checkpoints")
    parser.add_argument("--dry-run", action="store_true", help="list the runs still to do")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many new runs")
    shard_help = "run only the grid's runs at positions I, I+N, ... (N processes sharing a grid)"
    parser.add_argument("--shard", default=None, metavar="I/N", help=shard_help)
    args = parser.parse_args(argv)
    shard = _parse_shard(parser, args.shard) if args.shard else None
    from anomalib_contam.benchmark import run_grid

    path = run_grid(args.config, args.results_root, args.work_dir, dry_run=args.dry_run, limit=args.limit,
                    shard=shard)  # fmt: skip
    print(f"results: {path}\nsummary: {path.parent / 'summary.md'}")
    return 0


def _parse_shard(parser: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    """``I/N`` as ``(I, N)`` with ``0 <= I < N``; anything else is a usage error naming ``--shard``."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        parser.error(f"--shard: expected I/N with 0 <= I < N (e.g. 0/4), got '{text}'")
    return int(index), int(count)


def _seed_from_argv(argv: list[str]) -> int | None:
    """The integer of ``--seed_everything N`` / ``--seed_everything=N`` on the command line, if any."""
    for index, arg in enumerate(argv):
        value = arg.partition("=")[2] if arg.startswith("--seed_everything=") else None
        if arg == "--seed_everything" and index + 1 < len(argv):
            value = argv[index + 1]
        if value is not None and value.lstrip("-").isdigit():
            return int(value)
    return None


def _quickstart(argv: list[str]) -> int:
    from anomalib_contam.quickstart import main as quickstart_main

    return quickstart_main(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``anomalib-contam`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "benchmark":
        return _benchmark(argv[1:])
    if argv and argv[0] == "quickstart":
        return _quickstart(argv[1:])
    if argv and argv[0] == "report":
        from anomalib_contam.report import main as report_main

        return report_main(argv[1:])
    if argv and argv[0] == "audit":
        from anomalib_contam.audit_command import main as audit_main

        return audit_main(argv[1:])
    if argv and argv[0] == "reproduce":
        from anomalib_contam.reproduce import main as reproduce_main

        return reproduce_main(argv[1:])
    if argv and argv[0] in {"-h", "--help"}:
        print("usage: anomalib-contam {benchmark,quickstart,<anomalib subcommand>} ...\n")
        for name, text in OWN_COMMANDS.items():
            print(f"  {name:<12} {text}")
        print("  train, test, export, predict, ...: anomalib's CLI with the plugin's models registered\n")
    from anomalib.cli.cli import main as anomalib_main

    import anomalib_contam.models  # noqa: F401 - registers the models before anomalib parses --model

    # anomalib 2.7's CLI accepts --seed_everything but never applies it: seed here, before the classes are built.
    seed = _seed_from_argv(argv)
    if seed is not None:
        from lightning.pytorch import seed_everything

        seed_everything(seed, workers=True)
    # Keep the real script as argv[0]: Lightning's DDP launcher re-runs sys.argv for ranks > 0.
    sys.argv = [sys.argv[0] or "anomalib", *argv]
    anomalib_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
