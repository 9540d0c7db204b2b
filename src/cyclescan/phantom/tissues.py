"""Tissue table of the knee phantom: label values and 3 T relaxation / proton-density properties.

Every tissue is a two-pool voxel: a water pool (``t1``, ``t2``, ``t2s``) and a fat pool with the
fat relaxation constants (``FAT_T1``, ``FAT_T2``, its own ``t2s_fat``) and chemical shift
``FAT_SHIFT_PPM``. ``fat_fraction`` is the fraction of the proton density in the fat pool.
Values are rounded, representative in-vivo numbers at 3 T from the sources named in each row
(see docs/phantom.md); the phantom needs realistic *contrast*, not a per-subject fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Fat pool (adipose triglycerides, main methylene peak): T1/T2 at 3 T, chemical shift vs water.
FAT_T1_MS = 380.0
FAT_T2_MS = 130.0
FAT_SHIFT_PPM = -3.4
FAT_SOURCE = "Gold 2004 AJR; Jordan 2013 EJR (subcutaneous fat / marrow at 3 T)"

SOURCES: dict[str, str] = {
    "Gold2004": "Gold GE et al. Musculoskeletal MRI at 3.0 T: relaxation times and image contrast. "
                "AJR 2004;183:343-351",
    "Stanisz2005": "Stanisz GJ et al. T1, T2 relaxation and magnetization transfer in tissue at 3T. "
                   "Magn Reson Med 2005;54:507-512",
    "Jordan2013": "Jordan CD et al. Musculoskeletal MRI at 3.0 T and 7.0 T: a comparison of relaxation "
                  "times and image contrast. Eur J Radiol 2013;82:734-739",
    "Pai2008": "Pai A, Li X, Majumdar S. A comparative study at 3 Tesla of sequence dependence of T2 "
               "quantitation in the knee. Magn Reson Imaging 2008;26:1215-1220",
    "Williams2011": "Williams A, Qian Y, Chu CR. UTE-T2* mapping of human articular cartilage in vivo. "
                    "Osteoarthritis Cartilage 2011;19:84-88",
    "Chang2015": "Chang EY, Du J, Chung CB. UTE imaging in the musculoskeletal system. "
                 "J Magn Reson Imaging 2015;41:870-883 (T2* of tendon, ligament, meniscus, cortical bone)",
    "Rauscher2008": "Rauscher I et al. Meniscal measurements of T1rho and T2 at MR imaging in healthy "
                    "subjects and patients with osteoarthritis. Radiology 2008;249:591-600",
    "Peterfy2008": "Peterfy CG, Schneider E, Nevitt M. The osteoarthritis initiative: report on the design "
                   "rationale for the MRI protocol of the knee. Osteoarthritis Cartilage 2008;16:1433-1441",
}


@dataclass(frozen=True)
class Tissue:
    """One tissue class. Times in ms; ``pd`` relative to pure water (0..1)."""

    name: str
    label: int
    t1: float
    t2: float
    t2s: float
    pd: float
    fat_fraction: float = 0.0
    t2s_fat: float = 40.0
    texture: float = 0.03  # relative amplitude of the smooth intra-tissue intensity texture
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sources"] = [SOURCES.get(s, s) for s in self.sources]
        return d


# Order = label value. Background (air) has no signal.
TISSUES: tuple[Tissue, ...] = (
    Tissue("background", 0, 1.0, 1.0, 1.0, 0.0, texture=0.0),
    Tissue("fat", 1, 1000.0, 40.0, 25.0, 0.9, fat_fraction=0.9, t2s_fat=40.0,
           sources=("Gold2004", "Jordan2013", "Pai2008")),
    Tissue("muscle", 2, 1420.0, 32.0, 25.0, 0.8, fat_fraction=0.03,
           sources=("Gold2004", "Stanisz2005", "Pai2008")),
    Tissue("fluid", 3, 3620.0, 767.0, 400.0, 0.97, texture=0.01, sources=("Gold2004", "Jordan2013")),
    Tissue("femur_cortex", 4, 250.0, 0.5, 0.4, 0.2, sources=("Chang2015",)),
    Tissue("femur_marrow", 5, 1000.0, 40.0, 8.0, 0.9, fat_fraction=0.85, t2s_fat=8.0, texture=0.15,
           sources=("Gold2004", "Jordan2013", "Pai2008")),
    Tissue("tibia_cortex", 6, 250.0, 0.5, 0.4, 0.2, sources=("Chang2015",)),
    Tissue("tibia_marrow", 7, 1000.0, 40.0, 8.0, 0.9, fat_fraction=0.85, t2s_fat=8.0, texture=0.15,
           sources=("Gold2004", "Jordan2013", "Pai2008")),
    Tissue("patella_cortex", 8, 250.0, 0.5, 0.4, 0.2, sources=("Chang2015",)),
    Tissue("patella_marrow", 9, 1000.0, 40.0, 8.0, 0.9, fat_fraction=0.85, t2s_fat=8.0, texture=0.15,
           sources=("Gold2004", "Jordan2013", "Pai2008")),
    Tissue("femoral_cartilage", 10, 1240.0, 37.0, 20.0, 0.75,
           sources=("Gold2004", "Stanisz2005", "Williams2011")),
    Tissue("tibial_cartilage", 11, 1240.0, 35.0, 20.0, 0.75,
           sources=("Gold2004", "Stanisz2005", "Williams2011")),
    Tissue("patellar_cartilage", 12, 1240.0, 38.0, 20.0, 0.75,
           sources=("Gold2004", "Stanisz2005", "Williams2011")),
    Tissue("meniscus", 13, 1050.0, 14.0, 6.0, 0.65, sources=("Rauscher2008", "Chang2015")),
    Tissue("acl", 14, 1000.0, 22.0, 6.0, 0.65, sources=("Chang2015",)),
    Tissue("pcl", 15, 1000.0, 14.0, 4.0, 0.65, sources=("Chang2015",)),
    Tissue("patellar_tendon", 16, 700.0, 2.0, 1.5, 0.6, sources=("Chang2015",)),
    Tissue("quadriceps_tendon", 17, 700.0, 2.0, 1.5, 0.6, sources=("Chang2015",)),
)

LABELS: dict[str, int] = {t.name: t.label for t in TISSUES}
"""Label name -> integer value in ``test/labels`` volumes (background 0)."""

TISSUE_BY_NAME: dict[str, Tissue] = {t.name: t for t in TISSUES}


def tissue_table() -> list[dict]:
    """The table as plain dicts (for phantom.json)."""
    return [t.to_dict() for t in TISSUES]
