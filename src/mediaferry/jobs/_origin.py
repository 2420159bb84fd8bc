"""This process's tag, stamped on the job events it writes (so mirrors can skip them)."""

from __future__ import annotations

import uuid

PROCESS_ORIGIN = uuid.uuid4().hex[:12]
