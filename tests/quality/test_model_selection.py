"""The model-selection check of scripts/phantom_quality.py: the rule's pick vs the best in hindsight."""

from __future__ import annotations

import pytest


def _hist(scores: dict[int, float | None], best: set[int] = frozenset()) -> list[dict[str, str]]:
    return [{"epoch": str(e), "selection_score": "" if s is None else str(s), "best": "1" if e in best else "0"}
            for e, s in scores.items()]


def test_pick_is_lowest_selection_score_among_scored_checkpoints(phantom_quality):
    history = _hist({1: 0.9, 2: 0.5, 3: 0.1, 4: 0.4, 5: None, 6: 0.3})
    test_ssim = {2: 0.70, 4: 0.80, 6: 0.75}  # epoch 3 has the lowest score but no checkpoint
    out = phantom_quality.selection_check(history, test_ssim)
    assert out["picked"] == 6 and out["oracle"] == 4
    assert out["gap"] == pytest.approx(0.05)


def test_ties_prefer_the_earlier_epoch_and_gap_is_zero_when_the_rule_is_right(phantom_quality):
    out = phantom_quality.selection_check(_hist({2: 0.2, 4: 0.2}), {2: 0.9, 4: 0.9})
    assert out["picked"] == 2 and out["oracle"] == 2 and out["gap"] == 0.0


def test_no_overlap_between_validated_and_kept_epochs_is_an_error(phantom_quality):
    with pytest.raises(ValueError):
        phantom_quality.selection_check(_hist({1: 0.2, 3: 0.1}), {2: 0.9})


def test_best_epoch_is_the_last_flagged_row(phantom_quality):
    assert phantom_quality._best_epoch(_hist({1: 0.5, 2: 0.3, 3: 0.4}, best={1, 2})) == 2
    assert phantom_quality._best_epoch(_hist({1: 0.5, 2: 0.6})) == 2  # none flagged: the last epoch


def test_cached_metrics_are_reused_only_when_scored_with_the_same_detail_transfer(phantom_quality, tmp_path,
                                                                                 monkeypatch):
    """A metrics file from before the detail transfer (no inputs.detail_sigma) or with another width
    is stale: phantom_quality evaluates again instead of reporting old numbers as new."""
    import json
    import types

    import cyclescan.train.checkpoint as ck

    cfg = types.SimpleNamespace(infer=types.SimpleNamespace(detail_sigma=1.25))
    monkeypatch.setattr(ck, "load_checkpoint", lambda path: {})
    monkeypatch.setattr(ck, "checkpoint_config", lambda ckpt: cfg)
    out = tmp_path / "m.json"
    assert not phantom_quality._reusable(out, tmp_path / "c.pt")  # missing
    for inputs, ok in (({}, False), ({"detail_sigma": 0.0}, False), ({"detail_sigma": 1.25}, True)):
        out.write_text(json.dumps({"inputs": inputs}))
        assert phantom_quality._reusable(out, tmp_path / "c.pt") is ok, inputs
