"""media: from "a file is on disk" to "a file Telegram plays" (DESIGN.md §7).

The job pipeline needs :func:`~mediaferry.media.postprocess.postprocess` and
:func:`~mediaferry.media.postprocess.validate`; the plain result types
(:mod:`mediaferry.media.result`) are imported by the core without ffmpeg, probing or
tagging, so this package imports none of its modules itself.
"""
