"""Implicit solid primitives evaluated on axis-aligned grids (the phantom's anatomy is built from them).

Coordinates are the *knee frame* in millimetres: X = left-right, Y = superior (+), Z = anterior (+).
A primitive answers ``inside(x, y, z)`` for broadcastable 1-D coordinate arrays shaped (n,1,1),
(1,m,1), (1,1,k) and returns a bool array (n, m, k); ``bbox()`` bounds it so painting only
evaluates the voxels that can be inside. Each primitive may carry ``minus`` shapes (CSG difference).
Hand-written: no library offers oriented super-ellipsoids/capsules on a sub-block of a grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


def rot_x(deg: float) -> Array:
    """Rotation about L-R; a positive angle tilts +Y (superior) towards -Z (posterior)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, s], [0, -s, c]])


def rot_y(deg: float) -> Array:
    """Rotation about S-I (internal/external rotation)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def rot_z(deg: float) -> Array:
    """Rotation about A-P (varus/valgus)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


@dataclass(frozen=True)
class Frame:
    """Rigid (or mirrored) frame: local point p -> knee-frame point ``origin + rot @ p``."""

    origin: Array
    rot: Array

    def to_knee(self, p) -> Array:
        return self.origin + self.rot @ np.asarray(p, dtype=np.float64)


@dataclass
class Shape:
    """Base class: subclasses implement ``_inside`` and ``bbox``; ``minus`` (keyword-only, every
    primitive): shapes cut out of this one (CSG difference)."""

    minus: list["Shape"] = field(default_factory=list, kw_only=True)

    def bbox(self) -> tuple[Array, Array]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inside(self, x: Array, y: Array, z: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def inside(self, x: Array, y: Array, z: Array) -> Array:
        m = self._inside(x, y, z)
        for other in self.minus:
            m &= ~other.inside(x, y, z)
        return m


def _local(frame_origin: Array, rot: Array, x: Array, y: Array, z: Array) -> tuple[Array, Array, Array]:
    """Knee-frame grid coordinates -> local coordinates ``rot.T @ (p - origin)`` (broadcast)."""
    # Python floats keep float32 grids in float32 (NumPy 2 promotion rules).
    o = [float(v) for v in frame_origin]
    r = [[float(v) for v in row] for row in rot]
    dx, dy, dz = x - o[0], y - o[1], z - o[2]
    return tuple(_axis_sum(r[0][i] * dx, r[1][i] * dy, r[2][i] * dz) for i in range(3))  # type: ignore[return-value]


def _oriented_bbox(center: Array, rot: Array, half: Array) -> tuple[Array, Array]:
    """(lo, hi) knee-frame corners bounding a local box ``|local_i| <= half_i`` rotated by ``rot``."""
    h = np.abs(rot) @ np.asarray(half)
    return center - h, center + h


def _axis_sum(a: Array, b: Array, c: Array) -> Array:
    """a + b + c for broadcast 1-D factors; exact zeros (axis-aligned frames) are skipped."""
    out = None
    for t in (a, b, c):
        if not np.any(t):
            continue
        out = t if out is None else out + t
    return out if out is not None else a


@dataclass
class SuperEllipsoid(Shape):
    """``(lx/a)^2 + (lz/c)^2 + |ly/b|^n <= 1`` in local coords; n=2 ellipsoid, n>=6 capped cylinder.

    ``clips``: ((axis, lo, hi), ...) half-space limits on local coordinates (axis 0/1/2 = x/y/z).
    """

    center: Array
    rot: Array
    axes: tuple[float, float, float]
    n: int = 2
    clips: tuple[tuple[int, float, float], ...] = ()

    def grown(self, t: float, **kw) -> "SuperEllipsoid":
        """Same shape with every semi-axis grown by ``t`` mm (negative = eroded); ~uniform offset."""
        axes = tuple(max(a + t, 0.1) for a in self.axes)
        args = dict(center=self.center, rot=self.rot, axes=axes, n=self.n, clips=self.clips, minus=list(self.minus))
        args.update(kw)
        return SuperEllipsoid(**args)

    def bbox(self) -> tuple[Array, Array]:
        return _oriented_bbox(self.center, self.rot, self.axes)

    def _inside(self, x, y, z):
        lx, ly, lz = _local(self.center, self.rot, x, y, z)
        a, b, c = self.axes
        ty = ly * (1.0 / b)
        ty = ty * ty
        if self.n == 6:
            ty = ty * ty * ty
        elif self.n == 8:
            ty = ty * ty
            ty = ty * ty
        elif self.n != 2:
            ty = ty ** (self.n // 2)
        tx, tz = lx * (1.0 / a), lz * (1.0 / c)
        m = tx * tx + tz * tz + ty <= 1.0
        for axis, lo, hi in self.clips:
            v = (lx, ly, lz)[axis]
            m &= (v >= lo) & (v <= hi)
        return m


@dataclass
class Box(Shape):
    """Oriented box: ``|local_i| <= half_i``."""

    center: Array
    rot: Array
    half: tuple[float, float, float]

    def bbox(self):
        return _oriented_bbox(self.center, self.rot, self.half)

    def _inside(self, x, y, z):
        lx, ly, lz = _local(self.center, self.rot, x, y, z)
        return (np.abs(lx) <= self.half[0]) & (np.abs(ly) <= self.half[1]) & (np.abs(lz) <= self.half[2])


@dataclass
class Capsule(Shape):
    """Points within ``radius`` of the segment p0-p1 after scaling X by ``1/x_scale`` (flat bands)."""

    p0: Array
    p1: Array
    radius: float
    x_scale: float = 1.0

    def bbox(self):
        r = np.array([self.radius * self.x_scale, self.radius, self.radius])
        return np.minimum(self.p0, self.p1) - r, np.maximum(self.p0, self.p1) + r

    def _inside(self, x, y, z):
        s = np.array([1.0 / self.x_scale, 1.0, 1.0])
        a, b = [float(v) for v in self.p0 * s], [float(v) for v in self.p1 * s]
        d = [b[i] - a[i] for i in range(3)]
        dd = (d[0] ** 2 + d[1] ** 2 + d[2] ** 2) or 1e-9
        px, py, pz = x * float(s[0]) - a[0], y - a[1], z - a[2]
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / dd, 0.0, 1.0)
        return (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2 <= self.radius ** 2


@dataclass
class WedgeRing(Shape):
    """Meniscus: elliptic ring (radii a, c; inner fraction r_in) with a wedge cross-section.

    In local coords with r = sqrt((lx/a)^2 + (lz/c)^2): inside if r_in <= r <= 1 and
    0 <= ly <= height * (r - r_in) / (1 - r_in).
    """

    center: Array
    rot: Array
    a: float
    c: float
    height: float
    r_in: float = 0.6

    def bbox(self):
        return _oriented_bbox(self.center, self.rot, np.array([self.a, self.height, self.c]))

    def _inside(self, x, y, z):
        lx, ly, lz = _local(self.center, self.rot, x, y, z)
        r = np.sqrt((lx * (1.0 / float(self.a))) ** 2 + (lz * (1.0 / float(self.c))) ** 2)
        top = self.height * (r - self.r_in) / (1.0 - self.r_in)
        return (r >= self.r_in) & (r <= 1.0) & (ly >= 0.0) & (ly <= top)
