"""``legacy-ckpt``: the command line. Each subcommand is one thin function over
one library function; this module only parses, prints and picks exit codes.

Exit codes: 0 success; 1 the work failed (missing or corrupt checkpoint, a
refused overwrite, differences found by ``diff``/``verify``, an unsafe graph
found by ``scan``, a failed batch item); 2 usage errors (from argparse).
``--json`` prints one JSON object with a ``"schema"`` field (docs/cli.md);
an error then prints ``{"schema": "legacy-ckpt/error/1", ...}``.

TensorFlow is imported only by ``scan`` (graph protobufs) and ``convert
--target`` (the user's model): ``inspect``, ``diff``, structural ``convert``,
``verify`` and ``batch`` never import it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

PROG = "legacy-ckpt"
Result = tuple[int, dict[str, Any], str]  # exit code, --json payload, text for people
_QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ImportWarning,
                   ResourceWarning)  # fmt: skip


def cmd_inspect(args: argparse.Namespace) -> Result:
    from .inspect import (
        format_table,
        format_tensor,
        inspect_checkpoint,
        tensor_to_json,
        tensor_value,
    )

    info = inspect_checkpoint(args.path)
    if args.tensor is None:
        return 0, {**info, "tensor": None}, format_table(info)
    value = tensor_value(args.path, args.tensor)
    return (
        0,
        {**info, "tensor": tensor_to_json(args.tensor, value)},
        format_tensor(args.tensor, value),
    )


def cmd_diff(args: argparse.Namespace) -> Result:
    from .diff import diff_checkpoints

    report = diff_checkpoints(args.a, args.b, atol=args.atol)
    return (0 if report.same else 1), report.to_json(), report.summary()


def cmd_convert(args: argparse.Namespace) -> Result:
    from .batch.remote import convert_any
    from .options import ConversionOptions

    options = ConversionOptions(
        to=args.to, rules=args.rules, optimizer=args.optimizer, target=args.target,
        link=args.link, partial=args.partial, dry_run=args.dry_run, overwrite=args.overwrite,
    )  # fmt: skip
    for name in options.not_applicable():
        raise UsageError(f"--{name.replace('_', '-')} does not apply to --to {args.to}")
    if args.target:  # the spec was only checked; now build the model (imports TensorFlow)
        options = options.but(target=_load_target(args.target))
    report = convert_any(args.src, args.dst, options)
    payload = {"schema": "legacy-ckpt/convert/1", "to": args.to, "src": args.src, "dst": args.dst,
               "dry_run": args.dry_run, "report": report.to_dict()}  # fmt: skip
    return 0, payload, report.summary()


def _load_target(spec: str) -> object:
    """``MODULE:FACTORY`` -> ``FACTORY()`` (the current directory is importable)."""
    import importlib

    module_name, _, factory = spec.partition(":")
    if not module_name or not factory:
        raise UsageError(f"--target {spec!r}: expected MODULE:FACTORY, e.g. mymodels:build_vgg")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    try:
        build = getattr(module, factory)
    except AttributeError:
        raise UsageError(f"--target {spec!r}: module {module_name} has no {factory!r}") from None
    return build()


def cmd_verify(args: argparse.Namespace) -> Result:
    from dataclasses import asdict

    from .rules import load_rules
    from .verify import verify  # converters.api re-exports it, when it does

    report = verify(args.src, args.dst, load_rules(args.rules) if args.rules else None)
    payload = {"schema": "legacy-ckpt/verify/1", "ok": report.ok, **asdict(report)}
    return (0 if report.ok else 1), payload, report.summary()


def cmd_scan(args: argparse.Namespace) -> Result:
    from dataclasses import asdict

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # scan parses graphs with TF's protos
    try:
        from legacy_saver.metagraph.scan import scan
    except ImportError as exc:
        raise ImportError(f"scan is not available yet in this build ({exc})") from None
    report = scan(args.meta)
    payload = {"schema": "legacy-ckpt/scan/1", "ok": report.ok, **asdict(report)}
    return (0 if report.ok else 1), payload, str(report)


def cmd_batch(args: argparse.Namespace) -> Result:
    from .batch import format_summary, run_batch
    from .options import ConversionOptions

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"-j must be at least 1, got {args.jobs}")
    if args.scheduler and args.engine != "dask":
        raise UsageError("--scheduler applies to --engine dask only")
    options = ConversionOptions(to=args.to, rules=args.rules, optimizer=args.optimizer,
                                link=args.link, overwrite=args.overwrite)  # fmt: skip
    summary = run_batch(args.src_root, args.dst_root, options=options, jobs=args.jobs,
                        resume=args.resume, progress=not (args.quiet or args.json),
                        dry_run=args.dry_run, engine=args.engine,
                        scheduler=args.scheduler)  # fmt: skip
    return (0 if summary.ok else 1), summary.to_json(), format_summary(summary)


class UsageError(Exception):
    """Bad arguments found after parsing: exit code 2."""


def _add(sub: Any, name: str, func: Any, help_text: str, example: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=help_text, epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object (see docs/cli.md)")
    p.set_defaults(func=func)
    return p


def _conversion_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", choices=("tf2", "tf1", "v2"), default="tf2",
                   help="tf2: name-based -> object-based; tf1: object-based -> name-based; "
                   "v2: V1 file -> V2 (default tf2)")  # fmt: skip
    p.add_argument("--rules", metavar="FILE", help="rename rules (TOML)")
    p.add_argument("--optimizer", choices=("keep", "drop"), default="keep",
                   help="carry optimizer slots across (keep) or leave them out (drop)")  # fmt: skip
    p.add_argument("--link", action="store_true", help="hard-link data shards when nothing changes")
    p.add_argument("--overwrite", action="store_true", help="replace existing destinations")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Inspect, compare, convert and batch-migrate TensorFlow 1.x checkpoints.",
        epilog="example:\n  legacy-ckpt inspect model.ckpt-1000\n\n"
        "Run 'legacy-ckpt COMMAND --help' for a command's options. Exit codes: 0 success, "
        "1 the work failed, 2 usage error.",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _add(
        sub,
        "inspect",
        cmd_inspect,
        "list a checkpoint's format and variables",
        "legacy-ckpt inspect s3://bucket/run7/model.ckpt-1000 --tensor global_step",
    )
    p.add_argument("path", help="prefix, directory, checkpoint file, V1 file or fsspec URL")
    p.add_argument("--tensor", metavar="NAME", help="print this tensor's value")
    p = _add(
        sub,
        "diff",
        cmd_diff,
        "compare two checkpoints key by key (exit 1 if they differ)",
        "legacy-ckpt diff before/model.ckpt-9 after/model.ckpt-9 --atol 1e-6",
    )
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--atol", type=float, default=0.0, help="values this close count as equal")
    p = _add(
        sub,
        "convert",
        cmd_convert,
        "convert one checkpoint",
        "legacy-ckpt convert model.ckpt-1000 tf2/ckpt-1 --to tf2 --rules rules.toml",
    )
    p.add_argument("src")
    p.add_argument("dst", help="destination prefix (never replaced without --overwrite)")
    _conversion_flags(p)
    p.add_argument("--target", metavar="MODULE:FACTORY",
                   help="convert into the model FACTORY() builds (imports TensorFlow)")  # fmt: skip
    p.add_argument("--partial", action="store_true",
                   help="with --target: allow target variables without a source")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    p = _add(
        sub,
        "verify",
        cmd_verify,
        "check a conversion value by value (exit 1 on differences)",
        "legacy-ckpt verify model.ckpt-1000 tf2/ckpt-1 --rules rules.toml",
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--rules", metavar="FILE", help="the rename rules the conversion used")
    p = _add(
        sub,
        "scan",
        cmd_scan,
        "report risky ops in a .meta graph (exit 1 if unsafe)",
        "legacy-ckpt scan downloaded/model.ckpt-1000.meta",
    )
    p.add_argument("meta", help="a .meta file (MetaGraphDef)")
    p = _add(
        sub,
        "batch",
        cmd_batch,
        "convert every checkpoint under SRC_ROOT into DST_ROOT",
        "legacy-ckpt batch s3://old-models/ s3://tf2-models/ -j 8 --rules rules.toml",
    )
    p.add_argument("src_root")
    p.add_argument("dst_root")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs)")  # fmt: skip
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip checkpoints the manifest records as done (default)")  # fmt: skip
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="where items run: local processes (default) or a Dask cluster "
                   "(pip install 'legacy-saver[dask]')")  # fmt: skip
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="with --engine dask: the scheduler (tcp://HOST:PORT; default "
                   "$DASK_SCHEDULER_ADDRESS, else a LocalCluster of -j workers)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be converted and skipped, write nothing")  # fmt: skip
    _conversion_flags(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``legacy-ckpt`` with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors, 0 after --help
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, payload, text = args.func(args)
        for warning in caught:  # ours, one line each (not library deprecation noise)
            if issubclass(warning.category, _QUIET_WARNINGS):
                continue
            print(f"{PROG} {args.command}: warning: {warning.message}", file=sys.stderr)
    except UsageError as exc:
        parser.exit(2, f"{PROG} {args.command}: error: {exc}\n")
    except (ValueError, OSError, ImportError, KeyError) as exc:  # CheckpointError is a ValueError
        return _fail(args, exc)
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    try:
        print(json.dumps(payload, indent=2, default=str) if args.json else text)
        sys.stdout.flush()
    except BrokenPipeError:  # `legacy-ckpt inspect ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return int(code)


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
    if args.json:
        error = {"schema": "legacy-ckpt/error/1", "command": args.command, "error": message,
                 "type": type(exc).__name__}  # fmt: skip
        print(json.dumps(error, indent=2))
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
