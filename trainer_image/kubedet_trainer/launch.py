"""Starting every rank of a run that spans processes: torch's elastic launcher, the one `torchrun` runs.

The operator's Job gives each pod NNODES and NPROC_PER_NODE, and for more than one node NODE_RANK (the
pod's completion index), MASTER_ADDR (pod 0's name under the run's headless Service) and MASTER_PORT.
`python -m kubedet_trainer train` started with those, and not yet a rank itself (no LOCAL_RANK), starts
NPROC_PER_NODE ranks of itself under torch.distributed.run and exits with the exit code of the rank that
failed first, so the Job's podFailurePolicy sees the trainer's own codes (42 for a bad dataset, ...), not
the launcher's.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubedet_trainer.errors import ConfigInvalid

RANK_VARIABLE = "LOCAL_RANK"


def _count(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "1")
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigInvalid(f"{name}={raw!r}: a count of at least 1 is needed (the operator's Job sets it)")
    return value


def launcher_arguments(env: Mapping[str, str], trainer_argv: list[str]) -> list[str] | None:
    """torch.distributed.run's arguments for this pod's ranks, or None when this process should train by
    itself (one process in all, or already one of the ranks)."""
    if RANK_VARIABLE in env:
        return None
    nodes, per_node = _count(env, "NNODES"), _count(env, "NPROC_PER_NODE")
    if nodes * per_node == 1:
        return None
    arguments = [f"--nnodes={nodes}", f"--nproc-per-node={per_node}"]
    if nodes == 1:
        # One pod: the rendezvous lives in it, on a free local port.
        arguments.append("--standalone")
    else:
        missing = [name for name in ("NODE_RANK", "MASTER_ADDR", "MASTER_PORT") if not env.get(name)]
        if missing:
            raise ConfigInvalid(f"a {nodes}-node run needs {', '.join(missing)} (set by the operator's Job)")
        arguments += [
            f"--node-rank={env['NODE_RANK']}",
            f"--master-addr={env['MASTER_ADDR']}",
            f"--master-port={env['MASTER_PORT']}",
        ]
    return [*arguments, "-m", "kubedet_trainer", *trainer_argv]


def exit_code_of(exitcode: int) -> int:
    """A rank's exit code as a shell reports it: killed by signal N is 128 + N (137 for SIGKILL)."""
    return 128 + -exitcode if exitcode < 0 else exitcode


def launch(arguments: list[str]) -> int:
    """Run the ranks; 0 when all succeed, else the exit code of the first rank that failed."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    try:
        run(parse_args(arguments))
    except ChildFailedError as error:
        _, failure = error.get_first_failure()
        return exit_code_of(failure.exitcode) or 1
    return 0


__all__ = ["RANK_VARIABLE", "exit_code_of", "launch", "launcher_arguments"]
