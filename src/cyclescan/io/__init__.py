"""Volume I/O: the Volume type, NIfTI and DICOM readers/writers, atomic file writes."""
