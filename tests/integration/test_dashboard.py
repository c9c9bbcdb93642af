"""`kubectl kubedet dashboard` in a real browser (Debian's Chromium, driven by Playwright) against the
devcluster: the plugin runs as a user would start it (a subprocess, KUBECONFIG set, `--as` for other
users), kwok plays the trainer, and progress reaches the run through the trainer's own reporter.

Each page is photographed into DASHBOARD_SCREENSHOTS (default build/dashboard-screenshots) and every
picture is checked for size and for not being blank."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright import sync_api as playwright_api
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, get, plugin_env, ready_inputs, wait_phase
from tests.integration.test_cli import TERMINATION, result_with_summary, succeeded_run
from tests.integration.test_progress_reports import pod_token, reporter_for, trainer_pod
from tests.operator_process import OperatorProcess

from kubedet.api.runspec import STATISTICS_ANNOTATION, FailureReason
from kubedet.builders import naming

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("DASHBOARD_SCREENSHOTS", ROOT / "build" / "dashboard-screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PAGE_TIMEOUT_MS = 20_000


@contextmanager
def dashboard(cluster: Devcluster, namespace: str, *extra: str) -> Iterator[str]:
    """`kubectl kubedet dashboard --no-browser` as a subprocess; yields the address it prints."""
    env = plugin_env(cluster)
    process = subprocess.Popen(
        [sys.executable, "-m", "kubedet.cli", "dashboard", "--no-browser", "-n", namespace, *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", first)
        assert match, f"the dashboard printed {first!r}"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (apt-get install chromium)"
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Any, url: str, route: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url + f"&page={route}")
    return page


def photograph(page: Any, name: str) -> Path:
    """A full-page screenshot, checked: big enough, and not one colour (a blank or error page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.width >= 1400 and image.height >= 600, (name, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50, f"{name}: {len(colours)} colours, the page looks blank"
        dominant = max(count for count, _ in colours) / (image.width * image.height)
        assert dominant < 0.97, f"{name}: one colour covers {dominant:.0%} of the page"
    assert path.stat().st_size > 20_000, (name, path.stat().st_size)
    return path


def bind(cluster: Devcluster, namespace: str, user: str, *cluster_roles: str) -> None:
    for role in cluster_roles:
        cluster.kubectl(
            "create",
            "rolebinding",
            f"{user}-{role}"[:63],
            f"--clusterrole={role}",
            f"--user={user}",
            "-n",
            namespace,
        )


def can(cluster: Devcluster, namespace: str, user: str, verb: str, resource: str) -> bool:
    answer = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, f"--as={user}", check=False)
    return answer.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def roles_applied(devcluster: Devcluster, kubedet_crds: list[str]) -> Devcluster:
    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "manifests" / "rbac"))
    return devcluster


def test_pages_show_runs_models_and_datasets_live(
    roles_applied: Devcluster, namespace: str, operator: OperatorProcess, browser: Any
) -> None:
    cluster = roles_applied
    ready_inputs(cluster, namespace)
    failure = objects.trainer_failure(FailureReason.OUT_OF_MEMORY, "CUDA out of memory at batch 3")
    apply(
        cluster,
        namespace,
        objects.training_run(
            "good", "shapes", "base", pod_annotations={TERMINATION: result_with_summary("good")}
        ),
        objects.training_run(
            "oom",
            "shapes",
            "base",
            backoffLimit=0,
            pod_annotations={
                "sim.kubedet.io/outcome": "fail",
                "sim.kubedet.io/exit-code": "43",
                TERMINATION: failure,
            },
        ),
        objects.training_run("live", "shapes", "base", pod_annotations={"sim.kubedet.io/outcome": "hang"}),
    )
    wait_phase(cluster, namespace, "good", "Succeeded", timeout=90)
    wait_phase(cluster, namespace, "oom", "Failed", timeout=90)
    live = wait_phase(cluster, namespace, "live", "Running", timeout=90)
    model_name = naming.trained_model_name("good")
    model = wait_for(
        lambda: (
            (m := get(cluster, namespace, "trainedmodel", model_name)).get("status", {}).get("metrics") and m
        ),
        timeout=60,
        message="the model's metrics",
    )
    account = get(cluster, namespace, "job", live["status"]["jobName"])["spec"]["template"]["spec"][
        "serviceAccountName"
    ]
    token = pod_token(cluster, namespace, account, trainer_pod(cluster, namespace, "live"))
    reporter = reporter_for(cluster, namespace, "live", token)

    def report(epoch: int, percent: float) -> None:
        reporter.report(
            {
                "kind": "progress",
                "phase": "epoch",
                "epoch": epoch,
                "maxEpochs": 10,
                "iteration": epoch * 20,
                "maxIterations": 200,
                "percent": percent,
                "etaSeconds": 600 - 6 * percent,
                "loss": 1.5 / epoch,
                "bestMAP": 0.05 * epoch,
                "bestEpoch": epoch,
            }
        )
        assert reporter.failures == 0

    report(2, 20)
    with dashboard(cluster, namespace) as url:
        # Runs: the three runs, their phases, and the figures the operator wrote.
        runs = open_page(browser, url, "/runs")
        runs.wait_for_selector(
            "[data-testid=run-row][data-run=live] [data-testid=progress][data-percent='20']"
        )
        rows = {r.get_attribute("data-run"): r for r in runs.query_selector_all("[data-testid=run-row]")}
        assert set(rows) == {"good", "oom", "live"}
        assert rows["good"].query_selector("[data-testid=phase]").inner_text() == "Succeeded"
        assert "OutOfMemory" in rows["oom"].inner_text()
        best = get(cluster, namespace, "trainingrun", "good")["status"]["progress"]["bestMAP"]
        assert rows["good"].query_selector("[data-testid=map]").inner_text() == f"{best:.3f}"
        runs.select_option("[data-testid=filter-phase]", "Failed")
        assert [r.get_attribute("data-run") for r in runs.query_selector_all("[data-testid=run-row]")] == [
            "oom"
        ]
        runs.select_option("[data-testid=filter-phase]", "")
        photograph(runs, "runs")

        # A training run's page: its progress bar advances with the trainer's reports, no reload.
        training = open_page(browser, url, f"/runs/{namespace}/live")
        bar = "[data-testid=run-progress] [data-testid=progress]"
        training.wait_for_selector(f"{bar}[data-percent='20']")
        report(5, 50)
        training.wait_for_selector(f"{bar}[data-percent='50']")
        assert "epoch 5/10" in training.inner_text(bar)
        runs.wait_for_selector(
            "[data-testid=run-row][data-run=live] [data-testid=progress][data-percent='50']"
        )
        report(7, 70)
        training.wait_for_selector(f"{bar}[data-percent='70']")
        assert training.query_selector_all("[data-testid=loss-chart] path[data-series=loss]")
        photograph(training, "run-training")

        # The succeeded run: timeline, curves from the model's history, per-class AP of the best epoch.
        done = open_page(browser, url, f"/runs/{namespace}/good")
        done.wait_for_selector("[data-testid=per-class-row]")
        assert done.inner_text("[data-testid=produced-model]") == model_name
        types = [c.get_attribute("data-type") for c in done.query_selector_all("[data-testid=condition]")]
        assert "Succeeded" in types and "Validated" in types
        # The operator keeps the best epoch's AP per class in the model's training summary.
        summary = json.loads(model["metadata"]["annotations"][STATISTICS_ANNOTATION])
        expected = model["status"]["metrics"].get("perClassAP") or summary["perClassAP"]
        assert expected
        shown = {
            row.query_selector_all("td")[0].inner_text(): row.query_selector_all("td")[1].inner_text()
            for row in done.query_selector_all("[data-testid=per-class-row]")
        }
        assert shown == {name: f"{ap:.3f}" for name, ap in expected.items()}
        assert done.query_selector("[data-testid=map-chart] path[data-series='bbox mAP']")
        assert done.query_selector_all("[data-testid=attempt-row]")
        done.wait_for_selector("[data-testid=samples-missing]")  # kwok trains nothing: no picture to show
        assert "pvc://" in done.inner_text("[data-testid=samples-missing]")
        photograph(done, "run-succeeded")

        # The failed run: the error ConfigMap's reason, message and log tail.
        failed = open_page(browser, url, f"/runs/{namespace}/oom")
        failed.wait_for_selector("[data-testid=error-reason]")
        assert "OutOfMemory" in failed.inner_text("[data-testid=error-reason]")
        assert "exit code 43" in failed.inner_text("[data-testid=error-reason]")
        assert "CUDA out of memory at batch 3" in failed.inner_text("[data-testid=error-message]")
        photograph(failed, "run-failed")

        # Models: the lineage edge base -> model, and the comparison per class.
        models = open_page(browser, url, "/models")
        models.wait_for_selector("[data-testid=lineage-edge]")
        edges = {
            (e.get_attribute("data-from"), e.get_attribute("data-to"))
            for e in models.query_selector_all("[data-testid=lineage-edge]")
        }
        assert ("model/base", f"model/{model_name}") in edges
        assert any(to == f"model/{model_name}" and src.startswith("dataset/shapes") for src, to in edges)
        photograph(models, "models")
        # Both models evaluated on the same split: the comparison adds the evaluations' figures.
        scored = {
            "base": ({"circle": 0.30, "square": 0.20}, objects.EVALUATED_CHECKPOINT_SHA),
            model_name: ({"circle": 0.45, "square": 0.15}, objects.SHA),
        }
        apply(
            cluster,
            namespace,
            *(
                objects.model_evaluation(
                    f"{name}-on-shapes",
                    name,
                    "shapes",
                    pod_annotations={
                        TERMINATION: objects.evaluation_result(0.3, per_class=aps, checkpoint_sha=sha)
                    },
                )
                for name, (aps, sha) in scored.items()
            ),
        )
        for name in scored:
            wait_for(
                lambda n=name: (
                    get(cluster, namespace, "modelevaluation", f"{n}-on-shapes")
                    .get("status", {})
                    .get("phase")
                    == "Succeeded"
                ),
                timeout=90,
                message=f"the evaluation of {name}",
            )
        compared = open_page(browser, url, f"/compare/{namespace}/base/{model_name}")
        compared.wait_for_selector("[data-testid=compare-row]")
        assert {
            r.get_attribute("data-class") for r in compared.query_selector_all("[data-testid=compare-row]")
        } == set(expected)
        evaluated = {
            row.query_selector_all("td")[0].inner_text(): [
                c.inner_text() for c in row.query_selector_all("td")[1:]
            ]
            for row in compared.query_selector_all("[data-testid=evaluation-class-row]")
        }
        # Worst change first, as `kubectl kubedet compare` orders them.
        assert list(evaluated) == ["square", "circle"]
        assert evaluated["circle"] == ["0.300", "0.450", "0.150"]
        assert evaluated["square"] == ["0.200", "0.150", "-0.050"]
        photograph(compared, "compare")

        # Datasets: the preflight's counts, splits and class histogram.
        datasets = open_page(browser, url, "/datasets")
        datasets.wait_for_selector("[data-testid=dataset-card][data-dataset=shapes] [data-testid=split-row]")
        status = get(cluster, namespace, "dataset", "shapes")["status"]
        assert f"{status['images']} images" in datasets.inner_text(
            "[data-testid=dataset-card][data-dataset=shapes]"
        )
        bars = datasets.query_selector_all(
            "[data-testid=dataset-card][data-dataset=shapes] [data-testid=bar]"
        )
        assert {b.get_attribute("data-label") for b in bars} == {c["name"] for c in status["classes"]}
        photograph(datasets, "datasets")


def test_what_a_user_sees_and_may_do_follows_their_roles(
    roles_applied: Devcluster, namespace: str, operator: OperatorProcess, browser: Any
) -> None:
    cluster = roles_applied
    succeeded_run(cluster, namespace, "good")
    model_name = naming.trained_model_name("good")
    wait_for(
        lambda: get(cluster, namespace, "trainedmodel", model_name).get("status", {}).get("phase") == "Ready",
        timeout=60,
        message="the model to be Ready",
    )
    viewer, describer, publisher = (f"{who}-{namespace}"[:60] for who in ("viewer", "describer", "publisher"))
    bind(cluster, namespace, viewer, "kubedet-view-training-runs")
    # May patch models (their description) but holds no publish claim: admission refuses the publish.
    cluster.kubectl(
        "create",
        "role",
        "describe-models",
        "-n",
        namespace,
        "--verb=get,patch",
        "--resource=trainedmodels.kubedet.io",
    )
    cluster.kubectl(
        "create", "rolebinding", "describer", "-n", namespace, "--role=describe-models", f"--user={describer}"
    )
    bind(cluster, namespace, describer, "kubedet-view-training-runs")
    bind(cluster, namespace, publisher, "kubedet-publisher")
    wait_for(
        lambda: (
            can(cluster, namespace, publisher, "update", "trainedmodels.kubedet.io/publish")
            and can(cluster, namespace, describer, "patch", "trainedmodels.kubedet.io")
            and can(cluster, namespace, viewer, "list", "trainingruns.kubedet.io")
        ),
        timeout=60,
        message="the RoleBindings (and the aggregated publisher role) to take effect",
    )

    # Without the statistics roles: phases and progress, no loss, mAP or attempts; the page says why.
    with dashboard(cluster, namespace, "--as", viewer) as url:
        runs = open_page(browser, url, "/runs")
        runs.wait_for_selector("[data-testid=run-row][data-run=good]")
        assert runs.inner_text("[data-testid=run-row][data-run=good] [data-testid=map]") == "hidden"
        run = open_page(browser, url, f"/runs/{namespace}/good")
        run.wait_for_selector("[data-testid=statistics-refusal]")
        text = run.inner_text("[data-testid=run-per-class]")
        assert "kubedet-view-trained-model-statistics" in text and "trainedmodels/status" in text
        assert not run.query_selector_all("[data-testid=per-class-row]")
        assert "kubedet-view-training-runs-statistics" in run.inner_text("[data-testid=run-attempts]")
        assert "bbox mAP (hidden)" in run.inner_text("[data-testid=run-conditions]")
        assert "0.610" not in run.inner_text("main")  # the canned result's mAP, nowhere on the page
        photograph(run, "run-without-statistics")
        models = open_page(browser, url, "/models")
        models.wait_for_selector(f"[data-testid=model-row][data-model={model_name}]")
        button = models.query_selector(
            f"[data-testid=model-row][data-model={model_name}] [data-testid=publish]"
        )
        assert button.is_disabled() and "kubedet-publish-training-run-trained-model" in button.get_attribute(
            "title"
        )

    # May patch, may not publish: the button is there, and the API server's refusal is shown.
    with dashboard(cluster, namespace, "--as", describer) as url:
        models = open_page(browser, url, "/models")
        row = f"[data-testid=model-row][data-model={model_name}]"
        models.click(f"{row} [data-testid=publish]")
        models.wait_for_selector("[data-testid=action-message].error")
        refusal = models.inner_text("[data-testid=action-message]")
        assert refusal.startswith("you lack permission to update kubedet.io/trainedmodels/publish")
        assert (
            "kubedet-publish-training-run-trained-model" in refusal and "ValidatingAdmissionPolicy" in refusal
        )
        assert get(cluster, namespace, "trainedmodel", model_name)["spec"].get("published") is not True
        photograph(models, "publish-refused")

    # The publisher's click publishes.
    with dashboard(cluster, namespace, "--as", publisher) as url:
        models = open_page(browser, url, "/models")
        models.click(f"[data-testid=model-row][data-model={model_name}] [data-testid=publish]")
        models.wait_for_function(
            "document.querySelector('[data-testid=action-message]').textContent.includes('published')"
        )
        assert models.inner_text("[data-testid=action-message]") == f"{model_name} published"
        assert get(cluster, namespace, "trainedmodel", model_name)["spec"]["published"] is True
        assert (
            models.inner_text(f"[data-testid=model-row][data-model={model_name}] [data-testid=published]")
            == "yes"
        )
        photograph(models, "publish-accepted")
