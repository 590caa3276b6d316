"""Access to the generated `vigil:probe/host` bindings, or a clear error outside vigil.

componentize-py generates the `wit_world` package when it builds a probe. Everywhere
else (plain CPython running the SDK's unit tests or an editor importing the module)
the bindings do not exist; the pure helpers still work and the host calls raise
`RuntimeError` instead of failing at import time.
"""

try:
    from wit_world.imports import host as raw  # type: ignore[import-not-found]
except ImportError:  # not inside a componentize-py build
    raw = None


def get():
    """The host bindings; raises `RuntimeError` when not running inside vigil."""
    if raw is None:
        raise RuntimeError(
            "vigil host functions are only available inside a probe built with "
            "componentize-py and run by vigil"
        )
    return raw
