"""`kubectl kubedet`: argument parsing and dispatch. Errors go to stderr with a non-zero exit code:
1 error, 2 usage, 3 not found, 4 forbidden, 5 timed out, 6 the run failed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from kubedet.cli import actions, compare, lineage, logs, stats, status, why
from kubedet.cli.kube import CliError, Identity, Kube


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kubectl kubedet",
        description="Everyday work with kubedet training "
        "runs and models, as you (your kubeconfig and RBAC identity).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context to use")
    common.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    common.add_argument("--as", dest="as_user", help="user to impersonate, like kubectl --as")
    common.add_argument("--as-group", dest="as_group", help="group to impersonate, like kubectl --as-group")
    common.add_argument("-o", "--output", choices=["json", "yaml", "wide"], help="output format")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("status", parents=[common], help="phase, conditions and progress of a run")
    p.add_argument("run")
    p.add_argument("-w", "--watch", action="store_true", help="follow the run until it ends")
    p.add_argument("--timeout", type=float, default=3600, help="seconds --watch waits at most (3600)")
    p = sub.add_parser("logs", parents=[common], help="the trainer pods' logs, every rank and retry")
    p.add_argument("run")
    p.add_argument("-f", "--follow", action="store_true", help="stream until the run ends")
    p.add_argument("--tail", type=int, help="lines per pod from the end")
    p.add_argument("--timeout", type=float, default=86400, help="seconds -f follows at most")
    p = sub.add_parser("why", parents=[common], help="why a run failed or is stuck, and what to do")
    p.add_argument("run")
    p = sub.add_parser("stats", parents=[common], help="training history of a model (or of a run's model)")
    p.add_argument("name", metavar="RUN|MODEL")
    p.add_argument("--plot", metavar="DIR", help="write loss, mAP and per-class AP PNGs into DIR")
    for name, text in (("publish", "publish a model"), ("unpublish", "unpublish a model")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("model")
    for name, text in (
        ("suspend", "pause a run (or keep a draft unscheduled)"),
        ("resume", "schedule a run"),
    ):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("run")
    p = sub.add_parser("lineage", parents=[common], help="base models, datasets and runs behind a model")
    p.add_argument("model")
    p = sub.add_parser(
        "compare", parents=[common], help="two models' evaluations on a dataset, class by class"
    )
    p.add_argument("model_a", metavar="MODEL_A")
    p.add_argument("model_b", metavar="MODEL_B")
    p.add_argument("--on", dest="dataset", required=True, metavar="DATASET", help="the dataset to score on")
    p.add_argument("--split", default="test", choices=["test", "val", "train"], help="its split (test)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for missing evaluations")
    p.add_argument(
        "--gpus",
        type=int,
        choices=[0, 1],
        help="GPUs of the evaluations it creates (default: as the other's)",
    )
    p = sub.add_parser("list", parents=[common], help="runs and models")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p = sub.add_parser(
        "dashboard",
        parents=[common],
        help="web pages of runs, models and datasets on 127.0.0.1 (-n A,B for several namespaces)",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    p.add_argument(
        "--pvc-root",
        type=Path,
        metavar="DIR",
        help="where pvc:// claims are mounted on this machine (DIR/<claim>/...), for the trainer's pictures",
    )
    return top


def run(args: argparse.Namespace) -> int:
    identity = Identity(args.kubeconfig, args.context, args.as_user, args.as_group)
    kube = Kube(identity, args.namespace)

    def out(text: str) -> None:
        print(text, flush=True)

    command, output = args.command, args.output
    if command == "status":
        if args.watch:
            return status.watch_status(kube, args.run, args.timeout, out)
        return status.status(kube, args.run, output, out)
    if command == "logs":
        return (
            logs.follow(kube, args.run, args.timeout, out)
            if args.follow
            else logs.logs(kube, args.run, args.tail, out)
        )
    if command == "why":
        return why.why(kube, args.run, output, out)
    if command == "stats":
        return stats.stats(kube, args.name, args.plot, output, out)
    if command in ("publish", "unpublish"):
        return actions.set_published(kube, args.model, command == "publish", out)
    if command in ("suspend", "resume"):
        return actions.set_suspended(kube, args.run, command == "suspend", out)
    if command == "lineage":
        return lineage.lineage(kube, args.model, output, out)
    if command == "compare":
        options = compare.CompareOptions(args.timeout, args.gpus, output)
        return compare.compare(kube, args.model_a, args.model_b, args.dataset, args.split, options, out)
    if command == "list":
        return status.list_objects(kube, args.all_namespaces, output, out)
    if command == "dashboard":
        from kubedet.dashboard import app  # aiohttp's server is loaded only for this command

        namespaces = (
            None if args.all_namespaces else [n for n in (args.namespace or kube.namespace).split(",") if n]
        )
        return app.run(identity, namespaces, "127.0.0.1", args.port, args.pvc_root, not args.no_browser, out)
    raise CliError(f"unknown command {command}", 2)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
