from __future__ import annotations

import pytest

from hpo_flow.adapters.polling import Backoff

pytestmark = pytest.mark.unit


def test_backs_off_while_nothing_changes_and_resets_on_news() -> None:
    b = Backoff(initial=10, maximum=60, factor=2)
    assert [b.next(False) for _ in range(4)] == [20, 40, 60, 60]
    assert b.next(True) == 10


def test_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Backoff(initial=0)
