from __future__ import annotations

from mediaferry.cli.main import main

main()
