"""Sagittal knee anatomy of one subject as an ordered list of (label, solid) pairs.

Painting the solids in order (later wins) gives the label map: soft tissue first, then fluid,
menisci, ligaments/tendons, cartilage, cortical bone and finally marrow. Dimensions are those of
an average adult knee (mm), scaled and perturbed per subject (``sample_subject``):
femoral condyles ~22 mm sagittal radius, notch ~16 mm wide, cartilage 1.8-3.8 mm thick,
patella ~44x38x20 mm, patellar tendon ~25 mm wide and ~5 mm thick.

Frames: the *base* frame sits at the joint centre (tibio-femoral contact, Y = 0) and carries the
global pose (position, in-plane tilt, internal rotation, varus/valgus, left/right mirror); the
*tibia* frame adds the posterior tibial slope; the *femur* frame adds knee flexion about the
condyle centre. The patella moves with the femur; tendons connect points of different frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cyclescan.phantom.shapes import Box, Capsule, Frame, Shape, SuperEllipsoid, WedgeRing, rot_x, rot_y, rot_z
from cyclescan.phantom.tissues import LABELS

I3 = np.eye(3)


@dataclass(frozen=True)
class SubjectParams:
    """Per-subject anatomy and pose (mm, degrees). Drawn by ``sample_subject``."""

    scale: float = 1.0          # bone size
    width: float = 1.0          # extra L-R factor of the bones
    femoral_cartilage: float = 2.3
    tibial_cartilage: float = 2.6
    patellar_cartilage: float = 3.2
    flexion: float = 10.0
    tilt: float = 0.0           # in-plane (sagittal) rotation of the whole knee
    rotation: float = 0.0       # internal/external rotation (about S-I)
    varus: float = 0.0          # about A-P
    slope: float = 6.0          # posterior tibial slope
    effusion: float = 1.0       # joint fluid thickness scale (mm)
    fat: float = 8.0            # subcutaneous fat thickness (mm)
    body_lr: float = 50.0       # leg cross-section semi-axes (mm)
    body_ap: float = 54.0
    patella_height: float = 20.0  # patella centre above the condyle centre (mm, before scaling)
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # knee position in the field of view (X, Y, Z)
    mirror: bool = False        # left knee (mirrored in L-R)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_subject(rng: np.random.Generator) -> SubjectParams:
    """Draw one subject's anatomy/pose; the ranges give visibly different knees."""
    u = rng.uniform
    return SubjectParams(
        scale=float(u(0.88, 1.12)), width=float(u(0.94, 1.06)),
        femoral_cartilage=float(u(1.8, 2.8)), tibial_cartilage=float(u(2.0, 3.2)),
        patellar_cartilage=float(u(2.5, 3.8)),
        flexion=float(u(0.0, 20.0)), tilt=float(u(-6.0, 6.0)), rotation=float(u(-8.0, 8.0)),
        varus=float(u(-3.0, 3.0)), slope=float(u(3.0, 10.0)),
        effusion=float(np.exp(u(np.log(0.4), np.log(4.0)))), fat=float(u(4.0, 12.0)),
        body_lr=float(u(46.0, 55.0)), body_ap=float(u(50.0, 58.0)), patella_height=float(u(14.0, 24.0)),
        shift=(float(u(-5, 5)), float(u(-8, 8)), float(u(-6, 6))), mirror=bool(rng.integers(2)),
    )


def _ellipsoid(frame: Frame, center, axes, n: int = 2, rot=I3, clips=(), minus=None) -> SuperEllipsoid:
    return SuperEllipsoid(frame.to_knee(center), frame.rot @ rot, tuple(float(a) for a in axes), n,
                          tuple(clips), minus=list(minus or []))


def build_shapes(p: SubjectParams) -> list[tuple[int, Shape]]:
    """Ordered (label value, solid) list for subject ``p``; paint in order, later wins."""
    s, w = p.scale, p.scale * p.width
    tf, tt, tp = p.femoral_cartilage, p.tibial_cartilage, p.patellar_cartilage
    ej = 0.3 + 0.3 * p.effusion  # thin joint-fluid film around cartilage
    L = LABELS
    pose = rot_x(p.tilt) @ rot_y(p.rotation) @ rot_z(p.varus)
    if p.mirror:
        pose = np.diag([-1.0, 1.0, 1.0]) @ pose
    base = Frame(np.asarray(p.shift, dtype=np.float64), pose)
    tib = Frame(base.origin, base.rot @ rot_x(p.slope))
    cy = tf + 22.0 * s  # condyle centre height (femur frame), its bone bottom sits at Y = tf
    pivot = np.array([0.0, cy, -6.0 * s])
    fl = rot_x(p.flexion)
    fem = Frame(base.to_knee(pivot - fl @ pivot), base.rot @ fl)
    bz = 2.0  # body centre slightly anterior of the joint centre

    out: list[tuple[int, Shape]] = []
    add = out.append
    # --- soft tissue: subcutaneous fat envelope, then muscle compartments ------------------
    add((L["fat"], _ellipsoid(fem, (0, cy + 160, bz), (p.body_lr + 4, 160, p.body_ap + 2), n=8)))
    add((L["fat"], _ellipsoid(base, (0, cy / 2, bz), (p.body_lr, 45, p.body_ap), n=8)))
    add((L["fat"], _ellipsoid(tib, (0, -160, bz - 3), (p.body_lr - 3, 160, p.body_ap - 4), n=8)))
    inner = p.fat
    add((L["muscle"], _ellipsoid(fem, (0, cy + 160, bz), (p.body_lr + 4 - inner, 160, p.body_ap + 2 - inner), n=8)))
    add((L["muscle"], _ellipsoid(base, (0, cy / 2, bz), (p.body_lr - inner, 45, p.body_ap - inner), n=8)))
    add((L["muscle"], _ellipsoid(tib, (0, -160, bz - 3), (p.body_lr - 3 - inner, 160, p.body_ap - 4 - inner), n=8)))
    back = -(p.body_ap - inner) + 14 * s
    add((L["fat"], _ellipsoid(base, (0, 10 * s, back + 2 * s), (10 * w, 50 * s, 12 * s))))  # popliteal fossa
    add((L["fat"], _ellipsoid(tib, (0, 8 * s, 24 * s), (24 * w, 15 * s, 11 * s))))  # Hoffa's fat pad
    # --- bones as solids (reused for cartilage = grown solid, fluid = grown more) -------------
    condyles = [_ellipsoid(fem, (side * 22 * w, cy, -6 * s), (14 * w, 22 * s, 26 * s)) for side in (-1, 1)]
    meta = _ellipsoid(fem, (0, cy + 14 * s, 0), (37 * w, 30 * s, 25 * s))
    fshaft = _ellipsoid(fem, (0, cy + 20 * s + 160, 1 * s), (15 * w, 160, 14 * s), n=8)
    notch = Box(fem.to_knee((0, cy - 12 * s, -16 * s)), fem.rot @ rot_x(-30), (8 * w, 22 * s, 22 * s))
    notch_in = Box(notch.center, notch.rot, tuple(h + 1.5 for h in notch.half))
    # The patellar tendon has a fixed length: with flexion the patella slides distally on the trochlea.
    ph = max(8.0, p.patella_height - 0.7 * p.flexion) * s
    dy = (ph - 14 * s) / (30 * s)
    front = 25 * s * np.sqrt(max(0.0, 1 - dy * dy))  # anterior femur (trochlea) at patella height
    zp = front + tf + tp + 0.3 + 9 * s
    patella = _ellipsoid(fem, (0, cy + ph, zp), (22 * w, 19 * s, 10 * s))
    thead = _ellipsoid(tib, (0, -tt - 20 * s, -2 * s), (37 * w, 20 * s, 25 * s), n=8, clips=[(1, 0, 1e9)])
    tmeta = _ellipsoid(tib, (0, -tt - 20 * s, -2 * s), (35 * w, 45 * s, 24 * s), clips=[(1, -1e9, 0)])
    tshaft = _ellipsoid(tib, (0, -tt - 40 * s - 160, 0), (15 * w, 160, 14 * s), n=8)
    tuber = _ellipsoid(tib, (0, -tt - 30 * s, 17 * s), (10 * w, 12 * s, 8 * s))

    add((L["fat"], _ellipsoid(fem, (0, cy + ph - 6 * s, zp + 3 * s), (36 * w, 30 * s, 15 * s))))  # para-patellar
    add((L["fat"], _ellipsoid(fem, (0, cy + ph + 28 * s, 19 * s), (18 * w, 22 * s, 6 * s))))  # suprapatellar fat pad

    # --- joint fluid ----------------------------------------------------------------------
    articular = [(0, -1e9, 0.45 * 22 * s)]
    for c in condyles:
        add((L["fluid"], c.grown(tf + ej, clips=articular, minus=[])))
    add((L["fluid"], meta.grown(tf + ej, clips=[(2, 6 * s, 1e9), (1, -1e9, 10 * s)])))
    add((L["fluid"], patella.grown(tp + ej, clips=[(2, -1e9, 0)])))
    bursa_z = 14 * s + 0.8 + p.effusion / 2
    add((L["fluid"], _ellipsoid(fem, (0, cy + ph + 28 * s, bursa_z), (20 * w, 24 * s, 0.4 + p.effusion / 2))))
    for side in (-1, 1):  # posterior recesses behind the condyles
        add((L["fluid"], _ellipsoid(fem, (side * 22 * w, cy + 6 * s, -33 * s - p.effusion / 2),
                                    (9 * w, 11 * s, 0.4 + p.effusion / 2))))
    add((L["fat"], notch))

    # --- menisci, ligaments, tendons ----------------------------------------------------------
    for side in (-1, 1):
        add((L["meniscus"], WedgeRing(tib.to_knee((side * 22 * w, 0.0, -2 * s)), tib.rot,
                                      17 * w, 22 * s, 6.5 * s, 0.62)))
    add((L["acl"], Capsule(fem.to_knee((8 * w, cy - 5 * s, -17 * s)), tib.to_knee((3 * w, -tt, 9 * s)), 4.5 * s)))
    pcl_mid = fem.to_knee((-6 * w, cy - 17 * s, -13 * s))
    add((L["pcl"], Capsule(fem.to_knee((-8 * w, cy - 4 * s, 3 * s)), pcl_mid, 5.0 * s)))
    add((L["pcl"], Capsule(pcl_mid, tib.to_knee((-2 * w, -tt - 9 * s, -21 * s)), 5.0 * s)))
    add((L["patellar_tendon"], Capsule(fem.to_knee((0, cy + ph - 16 * s, zp - 1 * s)),
                                       tib.to_knee((0, -tt - 30 * s, 24 * s)), 2.6, x_scale=4.5 * w)))
    add((L["quadriceps_tendon"], Capsule(fem.to_knee((0, cy + ph + 15 * s, zp - 3 * s)),
                                         fem.to_knee((0, cy + ph + 75 * s, 22 * s)), 3.0, x_scale=4.5 * w)))

    # --- cartilage ------------------------------------------------------------------------
    for c in condyles:
        add((L["femoral_cartilage"], c.grown(tf, clips=articular, minus=[notch])))
    add((L["femoral_cartilage"], meta.grown(tf, clips=[(2, 6 * s, 1e9), (1, -1e9, 10 * s)], minus=[notch])))
    for side in (-1, 1):
        add((L["tibial_cartilage"], _ellipsoid(tib, (side * 21 * w, -tt / 2, -2 * s), (16 * w, tt / 2, 21 * s), n=6)))
    add((L["patellar_cartilage"], patella.grown(tp, clips=[(2, -1e9, -2 * s)])))

    # --- bone: cortex (solid) then marrow (eroded solid) ----------------------------------------
    femur = [*condyles, meta, fshaft]
    for b in femur:
        add((L["femur_cortex"], b.grown(0.0, minus=[notch])))
    for b in (thead, tmeta, tshaft, tuber):
        add((L["tibia_cortex"], b))
    add((L["patella_cortex"], patella))
    for b in [*condyles, meta]:
        add((L["femur_marrow"], b.grown(-1.5, minus=[notch_in])))
    add((L["femur_marrow"], fshaft.grown(-4.5, axes=(fshaft.axes[0] - 4.5, fshaft.axes[1], fshaft.axes[2] - 4.5))))
    for b in (thead, tmeta, tuber):
        add((L["tibia_marrow"], b.grown(-1.5)))
    add((L["tibia_marrow"], tshaft.grown(0, axes=(tshaft.axes[0] - 4.5, tshaft.axes[1] - 1.5, tshaft.axes[2] - 4.5))))
    add((L["patella_marrow"], patella.grown(-1.3)))
    return out
