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
import math
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
        tensor_preview,
        tensor_to_json,
    )

    info = inspect_checkpoint(args.path)
    if args.tensor is None:
        return 0, {**info, "tensor": None}, format_table(info)
    value = tensor_preview(args.path, args.tensor)
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

    if args.format == "safetensors" or (args.format is None and args.dst.endswith(".safetensors")):
        return _convert_safetensors(args)
    for name in ("layout", "shard_size"):
        if getattr(args, name) is not None:
            raise UsageError(f"--{name.replace('_', '-')} applies to --format safetensors only")
    if args.strict:
        raise UsageError("--strict applies to --format safetensors only")
    if args.preset or args.format or args.ema or args.option or args.dst.endswith(".weights.h5"):
        return _convert_preset(args)
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


def _convert_preset(args: argparse.Namespace) -> Result:
    """``convert --preset/--format/--ema``: converters.presets.convert (docs/presets.md)."""
    from .presets import convert
    from .safetensors.layout import PRESETS as SAFETENSORS_PRESETS

    options = _options(args.option)  # a malformed KEY=VALUE is the first thing to say
    if args.option and not args.preset:
        raise UsageError("--option applies to a --preset (--preset NAME, or --preset auto)")
    if args.preset in SAFETENSORS_PRESETS:
        raise UsageError(f"--preset {args.preset} writes safetensors: give a DST ending in "
                         ".safetensors, or --format safetensors")  # fmt: skip
    if args.to != "tf2" or args.link or args.optimizer != "keep":
        raise UsageError("--preset/--format/--ema convert TF1 checkpoints into a model's "
                         "weights (--to tf2, no --link, no --optimizer)")  # fmt: skip
    report = convert(
        args.src, args.dst, preset=args.preset, format=args.format, rules=args.rules,
        target=_load_target(args.target) if args.target else None,
        options=options, ema=args.ema, partial=args.partial,
        dry_run=args.dry_run, overwrite=args.overwrite,
    )  # fmt: skip
    payload = {"schema": "legacy-ckpt/convert/1", "to": report.kind.removeprefix("tf1_to_"),
               "src": args.src, "dst": args.dst, "dry_run": args.dry_run,
               "preset": args.preset, "format": args.format,
               "report": report.to_dict()}  # fmt: skip
    return 0, payload, report.summary()


def _options(pairs: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` strings -> options; VALUE is a Python literal (1, 0.25,
    (96, 96, 3), None, True) or else a string."""
    import ast

    out: dict[str, object] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--option {pair!r}: expected KEY=VALUE, e.g. alpha=0.25")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    return out


def cmd_presets(args: argparse.Namespace) -> Result:
    from .presets import list_presets
    from .presets.registry import detect

    if args.detect:
        from legacy_saver.bundle import load_checkpoint

        with load_checkpoint(args.detect) as reader:
            found = detect(reader)
        payload = {"schema": "legacy-ckpt/presets-detect/1", "src": args.detect,
                   "preset": found.preset.name if found.preset else None,
                   "options": dict(found.options), "reason": found.reason}  # fmt: skip
        if found.preset is None:
            return 1, payload, f"{args.detect}: {found.reason}"
        opts = ", ".join(f"{k}={v!r}" for k, v in found.options.items())
        return 0, payload, f"{args.detect}: {found.preset.name}" + (f" ({opts})" if opts else "")
    from .safetensors.layout import PRESETS as SAFETENSORS_PRESETS

    rows = [p.describe() for p in list_presets()]
    rows += [SAFETENSORS_PRESETS[n].describe() for n in sorted(SAFETENSORS_PRESETS)]
    rows.sort(key=lambda r: r["name"])
    width = max(len(r["name"]) for r in rows)
    text = "\n".join(f"{r['name'].ljust(width)}  {r['target']}" for r in rows)
    return 0, {"schema": "legacy-ckpt/presets/1", "presets": rows}, text


def _convert_safetensors(args: argparse.Namespace) -> Result:
    from .safetensors import to_safetensors

    for name in ("target", "partial", "link", "ema", "option"):
        if getattr(args, name):
            raise UsageError(f"--{name} does not apply to --format safetensors")
    if args.to != "tf2":
        raise UsageError("--to does not apply to --format safetensors (the source's kind is "
                         "detected)")  # fmt: skip
    report = to_safetensors(
        args.src, args.dst, rules=args.rules, preset=args.preset, layout=args.layout,
        optimizer=args.optimizer, shard_bytes=_size(args.shard_size), overwrite=args.overwrite,
        strict=args.strict, dry_run=args.dry_run,
    )  # fmt: skip
    payload = {"schema": "legacy-ckpt/convert/1", "to": "safetensors", "src": args.src,
               "dst": args.dst, "dry_run": args.dry_run, "report": report.to_dict()}  # fmt: skip
    return 0, payload, report.summary()


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}  # fmt: skip


def _size(text: str | None) -> int | None:
    """``5GB`` (10**9, as Hugging Face's max_shard_size), ``2GiB``, ``1000000`` -> bytes."""
    if text is None:
        return None
    number = text.strip().upper().rstrip("BIKMGT") or "0"
    unit = text.strip().upper()[len(number) :]
    try:
        value = float(number) * _SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise UsageError(
            f"--shard-size {text!r}: expected e.g. 5GB, 500MiB or a byte count"
        ) from None
    if not math.isfinite(value):
        raise UsageError(f"--shard-size {text!r}: expected a finite size, e.g. 5GB")
    if value < 1:
        raise UsageError(f"--shard-size {text!r} must be at least one byte")
    return int(value)


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

    from legacy_saver.metagraph.quiet import import_tensorflow_quietly
    from legacy_saver.metagraph.scan import scan

    import_tensorflow_quietly()  # scan parses graphs with TF's protos; one error line only
    report = scan(args.meta)
    payload = {"schema": "legacy-ckpt/scan/1", "ok": report.ok,
               "loads_safely": report.loads_safely, **asdict(report)}  # fmt: skip
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
    p.add_argument("--preset", metavar="NAME",
                   help="a preset (legacy-ckpt presets) or 'auto'; with safetensors, named "
                   "rules such as bert-hf")  # fmt: skip
    p.add_argument("--format", choices=("tf2", "keras", "keras-hub", "safetensors"),
                   help="output: tf2 checkpoint, keras .weights.h5, keras-hub preset, or "
                   "safetensors (default: from DST's suffix: .weights.h5 keras, .safetensors "
                   "safetensors, else the --to checkpoint)")  # fmt: skip
    p.add_argument("--ema", action="store_true",
                   help="use ExponentialMovingAverage shadows for their variables")  # fmt: skip
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a preset option, e.g. --option alpha=0.25 (repeatable)")  # fmt: skip
    p.add_argument("--layout", choices=("tf", "torch"), default=None,
                   help="safetensors: tf keeps names and layouts, torch writes torch.nn "
                   "names and layouts (default: the preset's, else tf)")  # fmt: skip
    p.add_argument("--shard-size", metavar="SIZE",
                   help="safetensors: at most SIZE per file (5GB, 500MiB), Hugging Face "
                   "sharding with model.safetensors.index.json")  # fmt: skip
    p.add_argument("--strict", action="store_true",
                   help="safetensors: fail instead of dropping tensors it cannot hold")  # fmt: skip
    p = _add(
        sub,
        "presets",
        cmd_presets,
        "list the model presets, or say which one a checkpoint fits",
        "legacy-ckpt presets --detect inception_v3.ckpt",
    )
    p.add_argument("--detect", metavar="SRC", help="the checkpoint to recognise")
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
