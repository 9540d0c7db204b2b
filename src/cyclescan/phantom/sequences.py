"""Steady-state signal equations of the two contrasts: CISS (balanced SSFP) and water-excited DESS.

Both sequences reach a steady state of the Bloch equations under a train of identical RF pulses
(flip ``alpha`` about x) separated by ``TR`` of free precession (angle ``theta`` about z) and
relaxation. The steady state after a pulse solves ``M = A M + b`` exactly (3x3 linear system):

    A = R_x(alpha) E(TR) R_z(theta),   b = R_x(alpha) (0, 0, 1 - E1),   E1 = exp(-TR/T1), E2 = exp(-TR/T2)

* CISS = two bSSFP acquisitions with RF phase cycling 0 and 180 deg, combined by maximum
  intensity (the original CISS combination), read at TE = TR/2 (echo decay ``exp(-TE/T2)``:
  the balanced echo refocuses static dephasing). ``theta`` is the off-resonance phase per TR
  (0 for water, 2 pi * fat shift * TR for fat). The maximum is taken over the *complex sum* of
  everything in a voxel (its water and fat pools, and the tissues a partial-volume voxel mixes):
  at TR 8 ms at 3 T fat precesses ~1.05 pi per TR, so in each phase cycle water and fat sit in
  opposite bands and a fat/water mixture partly cancels, as in a real phase-cycled bSSFP image.
  ``ciss_cycles`` gives the per-cycle complex signal the renderer mixes; ``ciss_signal`` the
  magnitude of a pure tissue.
* DESS: unbalanced gradients dephase each voxel uniformly over ``theta`` in [0, 2 pi). The two
  echoes are the Fourier configurations of the isochromat average:
  ``S+ = |<M(theta)>| exp(-TE/T2*)`` (FISP, read TE after the pulse) and
  ``S- = |<M(theta) e^{i theta}>| exp(-(TR - TE)/T2) exp(-TE/T2')`` (PSIF: the configuration
  refocuses at the next pulse and is read TE before it, so it decays with T2 over TR - TE and
  with the reversible T2', ``1/T2' = 1/T2* - 1/T2``, over the TE offset; effective echo time 2 TR -
  TE; at T2' -> inf, ``S- exp(-TE/T2)`` is Bruder et al. 1988's closed form, tested). The image is
  ``S+ + S-`` (sum combination). At DESS's TE (4.7 ms, ~2 fat-water cycles at 3 T) fat and water
  are nearly in phase, so the pools add in magnitude. Water excitation scales the fat pool by
  ``1 - fat_suppression``.

Signals are in units of the equilibrium magnetisation of pure water (M0 = 1); a voxel's signal is
``pd * ((1 - ff) * S_water + ff * S_fat)`` (complex per phase cycle for CISS, magnitudes for DESS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cyclescan.phantom.tissues import FAT_SHIFT_PPM, FAT_T1_MS, FAT_T2_MS, TISSUES, Tissue

GAMMA_BAR_MHZ_PER_T = 42.577


@dataclass(frozen=True)
class CISSParams:
    """3D CISS (two phase-cycled bSSFP, max-intensity combined). Times in ms, angle in degrees."""

    tr: float = 8.0
    te: float = 4.0
    flip: float = 50.0
    field_t: float = 3.0


@dataclass(frozen=True)
class DESSParams:
    """3D DESS with water excitation (OAI-like protocol, Peterfy 2008). Times in ms, degrees."""

    tr: float = 16.3
    te: float = 4.7
    flip: float = 25.0
    fat_suppression: float = 0.95
    field_t: float = 3.0


def steady_state(t1: float, t2: float, alpha_deg: float, tr: float, theta: np.ndarray) -> np.ndarray:
    """Transverse magnetisation right after the pulse in steady state, per precession angle.

    Args:
        t1, t2: relaxation times (ms); tr: repetition time (ms); alpha_deg: flip angle (deg).
        theta: (N,) free-precession angle per TR (rad).
    Returns:
        (N,) complex128 ``Mx + i My`` in units of M0.
    """
    theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    a = np.deg2rad(alpha_deg)
    e1, e2 = np.exp(-tr / t1), np.exp(-tr / t2)
    rx = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])
    c, s = np.cos(theta), np.sin(theta)
    rz = np.zeros((theta.size, 3, 3))
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = c, -s, s, c, 1.0
    relax = np.diag([e2, e2, e1])
    a_mat = rx @ relax @ rz  # (N, 3, 3)
    b = rx @ np.array([0.0, 0.0, 1.0 - e1])
    m = np.linalg.solve(np.eye(3) - a_mat, np.broadcast_to(b, (theta.size, 3))[..., None])[..., 0]
    return m[:, 0] + 1j * m[:, 1]


def _fat_theta(field_t: float, tr: float) -> float:
    shift_hz = FAT_SHIFT_PPM * 1e-6 * GAMMA_BAR_MHZ_PER_T * 1e6 * field_t
    return 2.0 * np.pi * shift_hz * tr * 1e-3


def bssfp_cycles(t1: float, t2: float, p: CISSParams, theta0: float = 0.0) -> np.ndarray:
    """(2,) complex echo signal (units of M0) of one pool with off-resonance phase ``theta0`` per
    TR, in the 0 and 180 deg phase-cycled acquisitions, read at TE with ``exp(-TE/T2)``."""
    return steady_state(t1, t2, p.flip, p.tr, np.array([theta0, theta0 + np.pi])) * np.exp(-p.te / t2)


def bssfp_ciss(t1: float, t2: float, p: CISSParams, theta0: float = 0.0) -> float:
    """CISS magnitude (units of M0) of one pure pool: the maximum over the two phase cycles."""
    return float(np.max(np.abs(bssfp_cycles(t1, t2, p, theta0))))


def dess_echoes(t1: float, t2: float, t2s: float, p: DESSParams, n_iso: int = 360) -> tuple[float, float]:
    """(S+, S-) DESS echo magnitudes of one pool (units of M0), isochromat average over one cycle."""
    theta = (np.arange(n_iso) + 0.5) * (2.0 * np.pi / n_iso)
    m = steady_state(t1, t2, p.flip, p.tr, theta)
    t2_rev = 1.0 / max(1.0 / t2s - 1.0 / t2, 0.0) if t2s < t2 else np.inf  # reversible part T2'
    fisp = abs(m.mean()) * np.exp(-p.te / t2s)
    psif = abs((m * np.exp(1j * theta)).mean()) * np.exp(-(p.tr - p.te) / t2) * np.exp(-p.te / t2_rev)
    return float(fisp), float(psif)


def ciss_cycles(t: Tissue, p: CISSParams = CISSParams()) -> np.ndarray:
    """(2,) complex CISS signal of tissue ``t`` per phase cycle: its water and fat pools summed."""
    if t.pd == 0.0:
        return np.zeros(2, dtype=np.complex128)
    water = bssfp_cycles(t.t1, t.t2, p)
    fat = bssfp_cycles(FAT_T1_MS, FAT_T2_MS, p, _fat_theta(p.field_t, p.tr)) if t.fat_fraction else 0.0
    return t.pd * ((1 - t.fat_fraction) * water + t.fat_fraction * fat)


def ciss_signal(t: Tissue, p: CISSParams = CISSParams()) -> float:
    """CISS signal of a pure tissue ``t`` (units of M0 of water): max over cycles of |water + fat|."""
    return float(np.max(np.abs(ciss_cycles(t, p))))


CISS_CYCLE_KEYS = ("_ciss_re0", "_ciss_im0", "_ciss_re1", "_ciss_im1")


def ciss_cycle_luts(p: CISSParams = CISSParams()) -> dict[str, np.ndarray]:
    """Real and imaginary parts of ``ciss_cycles`` per label (4 x (n_labels,) float32): the renderer
    averages them over a voxel's sub-samples (partial volume mixes complex signals)."""
    c = np.array([ciss_cycles(t, p) for t in TISSUES])  # (n_labels, 2)
    parts = (c[:, 0].real, c[:, 0].imag, c[:, 1].real, c[:, 1].imag)
    return {k: np.asarray(v, dtype=np.float32) for k, v in zip(CISS_CYCLE_KEYS, parts)}


def combine_ciss_cycles(maps: dict[str, np.ndarray]) -> np.ndarray:
    """Pop the rendered cycle maps from ``maps`` -> the CISS image: max over cycles of |re + i im|."""
    re0, im0, re1, im1 = (maps.pop(k) for k in CISS_CYCLE_KEYS)
    return np.maximum(np.hypot(re0, im0), np.hypot(re1, im1)).astype(np.float32)


def dess_signal(t: Tissue, p: DESSParams = DESSParams()) -> float:
    """Water-excited DESS signal ``S+ + S-`` of tissue ``t`` (units of M0 of water)."""
    if t.pd == 0.0:
        return 0.0
    water = sum(dess_echoes(t.t1, t.t2, t.t2s, p))
    fat = sum(dess_echoes(FAT_T1_MS, FAT_T2_MS, t.t2s_fat, p)) if t.fat_fraction else 0.0
    return t.pd * ((1 - t.fat_fraction) * water + t.fat_fraction * (1 - p.fat_suppression) * fat)


def signal_lut(contrast: str, ciss: CISSParams = CISSParams(), dess: DESSParams = DESSParams()) -> np.ndarray:
    """(n_labels,) float32 ideal signal per label value for ``contrast`` in {"ciss", "dess"}."""
    if contrast == "ciss":
        vals = [ciss_signal(t, ciss) for t in TISSUES]
    elif contrast == "dess":
        vals = [dess_signal(t, dess) for t in TISSUES]
    else:
        raise ValueError(f"unknown contrast {contrast!r}")
    return np.asarray(vals, dtype=np.float32)


def params_dict(ciss: CISSParams, dess: DESSParams) -> dict:
    return {"ciss": asdict(ciss), "dess": asdict(dess)}
