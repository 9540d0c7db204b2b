"""Signal equations: the steady-state solver against closed forms, and the physics orderings."""

from __future__ import annotations

import numpy as np
import pytest

from cyclescan.phantom.sequences import CISSParams, DESSParams, dess_echoes, signal_lut, steady_state
from cyclescan.phantom.tissues import LABELS


def test_bssfp_matches_closed_form_on_resonance():
    t1, t2, tr, flip = 1240.0, 37.0, 8.0, 50.0
    a, e1, e2 = np.deg2rad(flip), np.exp(-tr / t1), np.exp(-tr / t2)
    closed = np.sin(a) * (1 - e1) / (1 - (e1 - e2) * np.cos(a) - e1 * e2)  # passband centre
    m = np.abs(steady_state(t1, t2, flip, tr, np.array([0.0, np.pi])))
    assert m.max() == pytest.approx(closed, rel=1e-9)


def test_dess_fid_echo_is_spoiled_gre_when_t2_is_short():
    # With T2 << TR no transverse coherence survives: FISP -> Ernst/FLASH signal, PSIF -> 0.
    t1, tr, flip = 1000.0, 16.3, 25.0
    a, e1 = np.deg2rad(flip), np.exp(-tr / t1)
    flash = np.sin(a) * (1 - e1) / (1 - e1 * np.cos(a))
    s_plus, s_minus = dess_echoes(t1, 0.5, 1e9, DESSParams(tr=tr, flip=flip))
    assert s_plus == pytest.approx(flash, rel=1e-4)
    assert s_minus < 1e-6


def test_dess_echo2_is_t2_weighted():
    p = DESSParams()
    ratio_fluid = np.divide(*dess_echoes(3620, 767, 1e9, p)[::-1])
    ratio_cart = np.divide(*dess_echoes(1240, 37, 1e9, p)[::-1])
    assert ratio_fluid > 0.8 > ratio_cart


def test_contrast_orderings_follow_physics():
    ciss, dess = signal_lut("ciss"), signal_lut("dess")
    L = LABELS
    # fat bright in CISS (bSSFP T2/T1 weighting), suppressed by water excitation in DESS
    assert ciss[L["fat"]] / ciss[L["muscle"]] > 3.0
    assert dess[L["fat"]] / dess[L["muscle"]] < 0.5
    assert ciss[L["femur_marrow"]] > 3 * ciss[L["femoral_cartilage"]]
    assert dess[L["femur_marrow"]] < dess[L["femoral_cartilage"]]
    # fluid is the brightest tissue in DESS and very bright in CISS
    assert dess.argmax() == L["fluid"]
    assert ciss[L["fluid"]] > 0.8 * ciss.max()
    # cartilage/fluid contrast differs between the two (not a global intensity map)
    r_ciss = ciss[L["femoral_cartilage"]] / ciss[L["fluid"]]
    r_dess = dess[L["femoral_cartilage"]] / dess[L["fluid"]]
    assert r_dess > 1.2 * r_ciss
    # muscle darker than cartilage in DESS; short-T2 tissues dark in both
    assert dess[L["muscle"]] < dess[L["femoral_cartilage"]]
    for name in ("patellar_tendon", "femur_cortex", "meniscus"):
        assert ciss[L[name]] < 0.5 * ciss[L["femoral_cartilage"]]
        assert dess[L[name]] < 0.5 * dess[L["femoral_cartilage"]]
    assert ciss[L["background"]] == dess[L["background"]] == 0.0


def test_sequence_parameters_change_the_contrast():
    low = signal_lut("ciss", CISSParams(flip=20.0))
    high = signal_lut("ciss", CISSParams(flip=70.0))
    assert not np.allclose(low / low.max(), high / high.max())


def test_psif_echo_matches_bruders_closed_form():
    # Bruder et al. 1988 / Hardy 1992: S- just before the next pulse. Ours is read TE earlier
    # (T2' -> inf here), so S- exp(-TE/T2) must equal the closed form.
    p = DESSParams()
    for t1, t2 in ((1240.0, 37.0), (1420.0, 32.0), (3620.0, 767.0), (1050.0, 14.0)):
        a, e1, e2 = np.deg2rad(p.flip), np.exp(-p.tr / t1), np.exp(-p.tr / t2)
        pp = 1 - e1 * np.cos(a) - e2**2 * (e1 - np.cos(a))
        qq = e2 * (1 - e1) * (1 + np.cos(a))
        closed = np.tan(a / 2) * (1 - (1 - e1 * np.cos(a)) * (1 - e2**2) / np.sqrt(pp**2 - qq**2))
        _, s_minus = dess_echoes(t1, t2, 1e9, p)
        assert s_minus * np.exp(-p.te / t2) == pytest.approx(closed, rel=1e-4)


def test_ciss_mixes_fat_and_water_as_complex_signals():
    from cyclescan.phantom.sequences import ciss_cycles, ciss_signal
    from cyclescan.phantom.tissues import TISSUES

    by = {t.name: t for t in TISSUES}
    fat, fluid = ciss_cycles(by["fat"]), ciss_cycles(by["fluid"])
    # at TR 8 ms and 3 T fat precesses ~pi per TR: in each phase cycle fat and water sit in
    # opposite bands, so a 50/50 voxel is darker than either tissue's mean (no magnitude sum)
    mixed = np.max(np.abs(0.5 * fat + 0.5 * fluid))
    assert mixed < 0.75 * (0.5 * ciss_signal(by["fat"]) + 0.5 * ciss_signal(by["fluid"]))
    # a pure tissue is the maximum over the cycles of |water + fat|
    assert ciss_signal(by["muscle"]) == pytest.approx(np.max(np.abs(ciss_cycles(by["muscle"]))))
