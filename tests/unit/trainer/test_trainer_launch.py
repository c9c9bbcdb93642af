"""How the trainer starts the ranks of a run that spans processes (kubedet_trainer/launch.py)."""

from __future__ import annotations

import pytest

from kubedet_trainer.errors import ConfigInvalid
from kubedet_trainer.launch import exit_code_of, launcher_arguments

TRAIN = ["train", "--spec", "/spec/run.json", "--workdir", "/workspace"]


def test_one_process_in_all_trains_by_itself() -> None:
    assert launcher_arguments({}, TRAIN) is None
    assert launcher_arguments({"NNODES": "1", "NPROC_PER_NODE": "1"}, TRAIN) is None


def test_a_rank_never_starts_ranks_of_its_own() -> None:
    assert launcher_arguments({"NNODES": "2", "NPROC_PER_NODE": "8", "LOCAL_RANK": "3"}, TRAIN) is None


def test_one_pod_with_several_gpus_runs_its_own_rendezvous() -> None:
    assert launcher_arguments({"NNODES": "1", "NPROC_PER_NODE": "4"}, TRAIN) == [
        "--nnodes=1",
        "--nproc-per-node=4",
        "--standalone",
        "-m",
        "kubedet_trainer",
        *TRAIN,
    ]


def test_pods_of_a_multi_node_run_meet_at_pod_zero() -> None:
    env = {
        "NNODES": "2",
        "NPROC_PER_NODE": "1",
        "NODE_RANK": "1",
        "MASTER_ADDR": "run-train-0.run-workers",
        "MASTER_PORT": "29500",
    }
    assert launcher_arguments(env, TRAIN) == [
        "--nnodes=2",
        "--nproc-per-node=1",
        "--node-rank=1",
        "--master-addr=run-train-0.run-workers",
        "--master-port=29500",
        "-m",
        "kubedet_trainer",
        *TRAIN,
    ]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NNODES": "two"}, "NNODES='two'"),
        ({"NPROC_PER_NODE": "0"}, "NPROC_PER_NODE='0'"),
        ({"NNODES": "2", "NPROC_PER_NODE": "1", "NODE_RANK": "0"}, "MASTER_ADDR, MASTER_PORT"),
    ],
)
def test_a_broken_launch_environment_is_a_config_error_that_names_it(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigInvalid, match=says):
        launcher_arguments(env, TRAIN)


def test_a_rank_killed_by_a_signal_exits_as_a_shell_reports_it() -> None:
    assert exit_code_of(42) == 42 and exit_code_of(-9) == 137 and exit_code_of(0) == 0
