"""Third-party plugins: modules named in $EDGESLM_PLUGINS, imported once.

    EDGESLM_PLUGINS=my_runtime,my_other_runtime edgeslm verify ...

A plugin registers what it adds when imported, e.g. a runner with
``@register_runner("gguf", name="my-llama")``. The variable is inherited by the
runtime processes edgeslm starts, so a runner a plugin adds runs there too.
"""

from __future__ import annotations

import importlib
import os

from edgeslm.errors import UsageError

ENV = "EDGESLM_PLUGINS"
_loaded: set[str] = set()


def load_plugins() -> None:
    """Import every module in $EDGESLM_PLUGINS (comma-separated). Raises UsageError for one that does not import."""
    for name in filter(None, (n.strip() for n in os.environ.get(ENV, "").split(","))):
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UsageError(f"${ENV} names {name!r}, which does not import: {e}",
                             hint=f"install the plugin, or remove it from ${ENV}") from e
        _loaded.add(name)
