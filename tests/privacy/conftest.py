"""Fixtures for the privacy tests."""

from __future__ import annotations

import pytest
from privacy_cases import FakeModel


@pytest.fixture()
def fake_model(monkeypatch: pytest.MonkeyPatch) -> FakeModel:
    """`score` loads :class:`FakeModel` instead of a reward bundle."""
    import edge_eval.reward

    model = FakeModel()
    monkeypatch.setattr(edge_eval.reward, "load_reward_model", lambda *a, **k: model)
    return model
