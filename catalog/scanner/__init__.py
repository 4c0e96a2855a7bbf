"""Scanning a drive into the index: walk, group, describe, checksum, thumbnail."""

from .run import ScanReport, scan

__all__ = ["ScanReport", "scan"]
