"""Operator settings read from the environment: good values parsed, bad ones named with their fix."""

from __future__ import annotations

import pytest

from kubedet import config
from kubedet.config import OperatorConfig, SettingError


def test_helper_placement_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.HELPER_NODE_SELECTOR_KEY, "kubedet.io/pool=cpu, zone=a")
    monkeypatch.setenv(
        config.HELPER_TOLERATIONS_KEY, '[{"key": "pool", "operator": "Exists", "effect": "NoSchedule"}]'
    )
    settings = OperatorConfig.from_env()
    assert settings.helper_node_selector == (("kubedet.io/pool", "cpu"), ("zone", "a"))
    assert settings.helper_tolerations == ({"key": "pool", "operator": "Exists", "effect": "NoSchedule"},)
    monkeypatch.delenv(config.HELPER_NODE_SELECTOR_KEY)
    monkeypatch.delenv(config.HELPER_TOLERATIONS_KEY)
    assert OperatorConfig.from_env().helper_node_selector == ()


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        (config.HELPER_NODE_SELECTOR_KEY, "pool", "is not key=value"),
        (config.HELPER_NODE_SELECTOR_KEY, "=cpu", "is not key=value"),
        (config.HELPER_TOLERATIONS_KEY, "pool=cpu", "not JSON"),
        (config.HELPER_TOLERATIONS_KEY, '{"key": "pool"}', "a JSON list of tolerations"),
        (config.HELPER_TOLERATIONS_KEY, '[{"key": "pool", "effects": "NoSchedule"}]', "'effects'"),
    ],
)
def test_a_bad_placement_setting_names_itself_and_its_form(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, says: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingError) as error:
        OperatorConfig.from_env()
    assert str(error.value).startswith(key) and says in str(error.value)


def test_kopfs_idle_workers_are_released_quickly_unless_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    # Half a second, not kopf's 5: an idle worker holds its last event's body (docs/benchmarks.md).
    assert OperatorConfig.from_env().queue_idle_seconds == 0.5
    monkeypatch.setenv("KUBEDET_QUEUE_IDLE_SECONDS", "5")
    assert OperatorConfig.from_env().queue_idle_seconds == 5.0
