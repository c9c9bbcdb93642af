"""Publish gates on the devcluster: runs with a publishPolicy whose models are judged on a golden dataset
against their line's published model (kwok plays the evaluations through their pods' termination
messages), the line switching its published model in one write, and the admission policy holding a
publish by hand to the same gate."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import KUBECTL, Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, get, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.integration

LINE = "shapes-detector"
POLICY = {
    "modelLine": LINE,
    "goldenDatasetRef": {"name": "golden"},
    "split": "test",
    "minBBoxMAP": 0.4,
    "mustNotRegress": True,
    "regressionClasses": ["circle"],
}


def evaluation_of(
    name: str, model: str, mAP: float, circle: float, square: float, sha: str
) -> dict[str, Any]:
    message = objects.evaluation_result(
        mAP, {"circle": circle, "square": square}, split="test", checkpoint_sha=sha
    )
    body = objects.model_evaluation(
        name, model, "golden", split="test", pod_annotations={"sim.kubedet.io/termination-message": message}
    )
    return body


def gated_run(name: str) -> dict[str, Any]:
    return objects.training_run(name, "shapes", "base", publish=True, publishPolicy=POLICY)


def published_models(cluster: Devcluster, namespace: str) -> set[str]:
    """The line's models with spec.published (the base model, in no line, is published too)."""
    models = json.loads(cluster.kubectl("get", "tm", "-n", namespace, "-o", "json").stdout)["items"]
    return {
        m["metadata"]["name"]
        for m in models
        if m["spec"].get("published") and (m["spec"].get("publishPolicy") or {}).get("modelLine") == LINE
    }


def line_model(cluster: Devcluster, namespace: str) -> str | None:
    status = get(cluster, namespace, "modelline", LINE).get("status") or {}
    return (status.get("publishedModelRef") or {}).get("name")


@contextmanager
def watching_line(cluster: Devcluster, namespace: str) -> Iterator[list[str | None]]:
    """Every published model the line showed, from a watch (each version of the object, none missed)."""
    seen: list[str | None] = []
    process = subprocess.Popen(
        [
            KUBECTL,
            f"--kubeconfig={cluster.kubeconfig}",
            "get",
            "modelline",
            LINE,
            "-n",
            namespace,
            "--watch",
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert process.stdout is not None
        for chunk in process.stdout:
            buffer += chunk
            while buffer.strip():
                try:
                    body, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                seen.append(((body.get("status") or {}).get("publishedModelRef") or {}).get("name"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield seen
    finally:
        process.terminate()
        reader.join(timeout=10)


def seed_line(cluster: Devcluster, namespace: str) -> None:
    """Ready inputs, a golden dataset, and the line's first published model `champion` (mAP 0.5, circle
    0.6) with its evaluation; imported published with a policy, as an admin seeds a line."""
    ready_inputs(cluster, namespace)
    champion = objects.base_model("champion")
    champion["spec"] = {**champion["spec"], "published": True, "publishPolicy": POLICY}
    scored = evaluation_of(
        "champion-on-golden", "champion", 0.5, circle=0.6, square=0.4, sha=objects.EVALUATED_CHECKPOINT_SHA
    )
    apply(cluster, namespace, objects.dataset("golden", published=False), champion, scored)
    wait_for(
        lambda: line_model(cluster, namespace) == "champion", timeout=60, message="the line's first model"
    )


def test_a_worse_challenger_stays_unpublished_and_a_better_one_replaces_the_champion(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    seed_line(devcluster, namespace)

    # Worse on the gated class circle, though better on average: kept, unpublished, and it says why.
    apply(
        devcluster,
        namespace,
        evaluation_of("worse-on-golden", "worse-model", 0.55, circle=0.45, square=0.65, sha=objects.SHA),
        gated_run("worse"),
    )
    run = wait_phase(devcluster, namespace, "worse", "Succeeded")
    model = wait_for(
        lambda: (
            (m := get(devcluster, namespace, "tm", "worse-model"))
            and (c := condition(m, "PublishGate"))
            and c["status"] == "False"
            and m
        ),
        timeout=90,
        message=lambda: (
            f"worse-model's gate: {get(devcluster, namespace, 'tm', 'worse-model').get('status')}"
        ),
    )
    gate = condition(model, "PublishGate")
    assert gate["reason"] == "GateFailed"
    assert "class circle 0.450 < 0.600 (published model champion: 0.600)" in gate["message"], gate
    assert model["spec"]["published"] is False
    assert model["status"]["publishGate"]["championRef"]["name"] == "champion"
    run_gate = wait_for(
        lambda: condition(get(devcluster, namespace, "tr", "worse"), "PublishGate"),
        timeout=30,
        message="run gate",
    )
    assert run_gate["reason"] == "GateFailed" and "class circle" in run_gate["message"]
    assert run["status"]["phase"] == "Succeeded"
    assert line_model(devcluster, namespace) == "champion"
    assert published_models(devcluster, namespace) == {"champion"}


def test_a_better_challenger_is_published_and_the_line_never_shows_none_or_two(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    seed_line(devcluster, namespace)
    with watching_line(devcluster, namespace) as line_watch:
        apply(
            devcluster,
            namespace,
            evaluation_of("better-on-golden", "better-model", 0.6, circle=0.7, square=0.5, sha=objects.SHA),
            gated_run("better"),
        )
        wait_phase(devcluster, namespace, "better", "Succeeded")
        wait_for(
            lambda: line_model(devcluster, namespace) == "better-model",
            timeout=90,
            message="the line to switch",
        )
        wait_for(
            lambda: published_models(devcluster, namespace) == {"better-model"},
            timeout=30,
            message="the replaced model to be unpublished",
        )
        wait_for(
            lambda: line_watch[-1:] == ["better-model"], timeout=10, message="the watch to see the switch"
        )
    # Every version of the line the watch saw: one model, never none, and one switch.
    assert line_watch[0] == "champion" and None not in line_watch, line_watch
    switch = line_watch.index("better-model")
    assert set(line_watch[:switch]) == {"champion"} and set(line_watch[switch:]) == {"better-model"}, (
        line_watch
    )
    better, old = (
        get(devcluster, namespace, "tm", "better-model"),
        get(devcluster, namespace, "tm", "champion"),
    )
    assert condition(better, "PublishGate")["reason"] == "GatePassed"
    assert better["status"]["replaces"]["name"] == "champion"
    assert old["status"]["replacedBy"]["name"] == "better-model"
    history = get(devcluster, namespace, "modelline", LINE)["status"]["history"]
    assert [h["modelRef"]["name"] for h in history] == ["better-model", "champion"]
    assert history[0]["replacedRef"]["name"] == "champion" and history[0]["overridden"] is False


def test_publishing_by_hand_is_held_to_the_gate_unless_the_publisher_may_override(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    ready_inputs(devcluster, namespace)
    for user, role in (("pat", "kubedet-publisher"), ("ada", "kubedet-admin")):
        devcluster.kubectl(
            "create", "rolebinding", user, f"--clusterrole={role}", f"--user={user}", "-n", namespace
        )
    candidate = objects.base_model("candidate")
    candidate["spec"] = {
        **candidate["spec"],
        "published": False,
        "publishPolicy": {**POLICY, "minBBoxMAP": 0.9},
    }
    apply(
        devcluster,
        namespace,
        objects.dataset("golden", published=False),
        candidate,
        evaluation_of(
            "candidate-on-golden",
            "candidate",
            0.5,
            circle=0.6,
            square=0.4,
            sha=objects.EVALUATED_CHECKPOINT_SHA,
        ),
    )
    wait_for(
        lambda: (
            (c := condition(get(devcluster, namespace, "tm", "candidate"), "PublishGate"))
            and c["status"] == "False"
        ),
        timeout=90,
        message="the candidate's gate verdict",
    )
    publish = [
        "patch",
        "tm",
        "candidate",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"published":true}}',
    ]
    refused = devcluster.kubectl(*publish, "--as=pat", check=False)
    assert refused.returncode != 0
    assert "has not passed the publish gate of its line shapes-detector" in refused.stderr
    assert "bbox mAP 0.500 < minBBoxMAP 0.900" in refused.stderr
    assert (
        "trainedmodels/override-publish-gate" in refused.stderr
        and "kubedet-override-publish-gate" in refused.stderr
    )
    devcluster.kubectl(*publish, "--as=ada")
    wait_for(
        lambda: line_model(devcluster, namespace) == "candidate", timeout=60, message="the overriding publish"
    )
    history = get(devcluster, namespace, "modelline", LINE)["status"]["history"]
    assert history[0]["overridden"] is True
