"""media: from "a file is on disk" to "a file Telegram plays" (DESIGN.md §7).

The job pipeline needs only :func:`postprocess` and :func:`validate`.
"""

from __future__ import annotations

from mediaferry.media.ffmpeg import FFmpegRunner
from mediaferry.media.postprocess import postprocess, validate
from mediaferry.media.probe import ProbeInfo, probe
from mediaferry.media.result import Part, Processed
from mediaferry.media.validate import Validated

__all__ = [
    "FFmpegRunner",
    "Part",
    "ProbeInfo",
    "Processed",
    "Validated",
    "postprocess",
    "probe",
    "validate",
]
