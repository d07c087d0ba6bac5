"""The web UI: a chat playground, a live dashboard and a moderator console.

Plain static files (HTML, ES modules, CSS, one vendored chart library) shipped inside the
package and served by the gateway at ``/ui/`` — nothing to build, nothing from a CDN.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR"]

#: Where the UI's files live inside the installed package.
STATIC_DIR = Path(__file__).parent / "static"
