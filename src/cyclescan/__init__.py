"""CycleScan: unpaired 3D CycleGAN contrast translation for MRI volumes."""

__version__ = "0.1.0"
