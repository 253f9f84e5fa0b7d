# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Lazy registration of anomalib-contam's models with anomalib (stdlib only).

``anomalib_contam_hook.pth`` imports this module at interpreter start-up. It installs a
meta-path finder that waits for ``anomalib.models`` to be imported, then imports
``anomalib_contam.models`` right after it, so ``anomalib train --model DevNet`` resolves the
plugin's classes. Nothing else happens at start-up: ``python -c pass`` imports no torch.
"""

from __future__ import annotations

import sys

_TRIGGER = "anomalib.models"
_PLUGIN = "anomalib_contam.models"


class _ImportAfterLoader:
    """Runs the real loader, then imports the plugin (duck-typed: importing importlib.abc costs 30 ms)."""

    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        import importlib

        try:
            importlib.import_module(_PLUGIN)
        except Exception as exc:
            sys.stderr.write(f"anomalib-contam: could not register its models with anomalib: {exc!r}\n")


class _AnomalibModelsFinder:
    """Wraps the loader of ``anomalib.models`` once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TRIGGER:
            return None
        import importlib.util

        sys.meta_path.remove(self)  # fire once; also avoids recursion in find_spec below
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ImportAfterLoader(spec.loader)
        return spec


def install() -> None:
    """Install the finder unless anomalib.models is already imported or it is installed."""
    if _TRIGGER in sys.modules or any(isinstance(f, _AnomalibModelsFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _AnomalibModelsFinder())


install()
