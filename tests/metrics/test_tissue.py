"""Per-tissue mean-signal errors on a labelled fixture with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cyclescan.errors import InputError
from cyclescan.metrics.tissue import load_label_map, tissue_errors

LABEL_MAP = {"background": 0, "femoral_cartilage": 1, "tibial_cartilage": 2, "patellar_cartilage": 3,
             "fluid": 4, "acl": 5, "muscle": 6}
TRUTH_SIGNAL = {0: 0.0, 1: 0.4, 2: 0.4, 3: 0.4, 4: 0.9, 5: 0.2, 6: 0.3}


def _fixture():
    labels = np.zeros((6, 12, 12), np.int32)
    for i, lab in enumerate([1, 2, 3, 4, 5, 6]):
        labels[:, 2 * i:2 * i + 2, 2:10] = lab
    truth = np.vectorize(TRUTH_SIGNAL.get)(labels).astype(np.float32)
    return labels, truth


def test_known_relative_errors():
    labels, truth = _fixture()
    pred = truth.copy()
    pred[np.isin(labels, [1, 2, 3])] *= 1.1     # cartilage 10 % too bright
    pred[labels == 5] *= 1.2                    # ACL and muscle both 20 % too bright:
    pred[labels == 6] *= 1.2                    # the ACL/muscle ratio is exact
    e = tissue_errors(pred, truth, labels, LABEL_MAP)
    assert e["cartilage_rel_error"] == pytest.approx(0.1, abs=1e-6)
    assert e["fluid_rel_error"] == pytest.approx(0.0, abs=1e-7)
    assert e["acl_rel_error"] == pytest.approx(0.2, abs=1e-6)
    assert e["acl_norm_rel_error"] == pytest.approx(0.0, abs=1e-6)
    assert e["acl_norm_truth"] == pytest.approx(0.2 / 0.3, abs=1e-6)


def test_cartilage_groups_three_labels():
    labels, truth = _fixture()
    pred = truth.copy()
    pred[labels == 1] = 0.7  # only femoral cartilage wrong: group mean over 3 equal-size parts
    e = tissue_errors(pred, truth, labels, LABEL_MAP)
    assert e["cartilage_rel_error"] == pytest.approx(((0.7 + 0.4 + 0.4) / 3 - 0.4) / 0.4, abs=1e-6)


def test_missing_tissue_is_nan_not_zero():
    labels, truth = _fixture()
    labels[labels == 6] = 0  # no muscle -> no ACL normalization
    e = tissue_errors(truth, truth, labels, LABEL_MAP)
    assert math.isnan(e["acl_norm_rel_error"])
    assert e["acl_rel_error"] == 0.0


def test_label_map_json(tmp_path):
    p = tmp_path / "phantom.json"
    p.write_text(json.dumps({"labels": LABEL_MAP, "seed": 1}))
    assert load_label_map(p) == LABEL_MAP
    bad = tmp_path / "bad.json"
    bad.write_text('{"acl": "five"}')
    with pytest.raises(InputError, match="bad.json"):
        load_label_map(bad)


def test_signal_space_keeps_zero_and_removes_scale():
    from cyclescan.metrics.tissue import to_signal_space

    labels, truth = _fixture()
    scanner = truth * 1234.0
    sig = to_signal_space(scanner)
    assert sig[labels == 0].max() == 0.0
    np.testing.assert_allclose(to_signal_space(3 * scanner), sig, rtol=1e-6)
    # Ratios of tissue means survive (relative errors are meaningful), unlike a [0, 1] window.
    assert sig[labels == 5].mean() / sig[labels == 6].mean() == pytest.approx(0.2 / 0.3, rel=1e-5)
