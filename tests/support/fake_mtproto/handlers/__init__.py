"""RPC handlers, one module per area; importing this package registers them all."""

from . import account, content, help, send, upload  # noqa: F401
