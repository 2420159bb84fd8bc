"""net: low-level network clients and tool runners shared by sources and transfer.

Storage level (DESIGN.md §2): imports only the base modules (config, errors,
logging, urls, plan), so a source that *describes* and a backend that *fetches*
use the same SSRF-safe HTTP client (:mod:`.http`), page fetch/probe helpers
(:mod:`.page`), yt-dlp child runner (:mod:`.ytdlp_process`, :mod:`.ytdlp_child`),
torrent metainfo parser (:mod:`.torrent`), failure classifier (:mod:`.classify`)
and cookie-file reader (:mod:`.cookies`) without importing each other.
Library exceptions (httpx, yt-dlp) are translated here, at the boundary.
"""
