from __future__ import annotations

from mediaferry.cli.app import main

main()
