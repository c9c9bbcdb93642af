"""The summary's way from the trainer to `kubectl kubedet stats`: fit_summary puts it into the result,
the operator's builder into the model's annotation, the plugin reads it back and tabulates it."""

from __future__ import annotations

from tests.unit.operator import fixtures
from tests.unit.test_plots import recorded_history, result

from kubedet.api.runspec import STATISTICS_ANNOTATION, parse_termination_message
from kubedet.builders.trainedmodel import build_trained_model
from kubedet.cli.stats import history_table, summary_of
from kubedet_trainer import stats


def test_summary_reaches_the_model_annotation_and_the_table() -> None:
    train, val, per_class, best = recorded_history()
    message = stats.fit_summary(result(), train, val, per_class, best).serialize()
    parsed = parse_termination_message(message)
    body = build_trained_model(fixtures.run(), fixtures.dataset(), parsed)  # type: ignore[arg-type]
    assert len(body["metadata"]["annotations"][STATISTICS_ANNOTATION]) < 4096
    summary = summary_of(body)
    assert summary is not None and summary.best_epoch == best and summary.epochs == sorted(val)
    lines = history_table(summary).splitlines()
    assert lines[0].split() == ["EPOCH", "LOSS", "LR", "MAP", "MAP50"]
    assert any(line.startswith(f"{best}*") for line in lines)


def test_a_result_without_summary_makes_a_model_without_annotation() -> None:
    body = build_trained_model(fixtures.run(), fixtures.dataset(), result())
    assert STATISTICS_ANNOTATION not in (body["metadata"].get("annotations") or {})
    assert summary_of(body) is None
