"""kubernetes_asyncio without its generated API classes and models until something asks for one.

Its package imports every generated API class and model at once (about 30 MB resident), and its
ApiClient imports the models again to deserialise typed answers. flowgate reads JSON itself and
uses only the ApiClient, its Configuration and the kubeconfig loader, so a node agent would carry
the weight on every node for nothing. `install()` registers the packages `kubernetes_asyncio`,
`kubernetes_asyncio.client` and `kubernetes_asyncio.client.models` as lazy modules: their
submodules import as usual, and the first other name asked of one runs that package's own
`__init__` in it, so `from kubernetes_asyncio.client import CoreV1Api` still works."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

LAZY_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")


def _lazy_package(name: str, directory: Path) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(directory)]
    module.__file__ = str(directory / "__init__.py")
    loaded = False

    def __getattr__(attr: str) -> Any:
        nonlocal loaded
        if attr.startswith("__") and attr not in ("__version__", "__all__"):
            raise AttributeError(attr)  # what the import machinery probes for
        if (directory / f"{attr}.py").exists() or (directory / attr).is_dir():
            return importlib.import_module(f"{name}.{attr}")
        if loaded:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        loaded = True
        init = directory / "__init__.py"
        exec(compile(init.read_text(), str(init), "exec"), module.__dict__)  # the package's own __init__
        return module.__dict__[attr]

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def install() -> None:
    """Before anything imports kubernetes_asyncio; once it is imported, nothing changes."""
    if "kubernetes_asyncio" in sys.modules:
        return
    spec = importlib.util.find_spec("kubernetes_asyncio")
    if spec is None or spec.origin is None:
        return  # not installed: the import that needs it says so
    directory = Path(spec.origin).parent
    parent: types.ModuleType | None = None
    for name in LAZY_PACKAGES:
        package = _lazy_package(name, directory.joinpath(*name.split(".")[1:]))
        sys.modules[name] = package
        if parent is not None:
            setattr(parent, name.rsplit(".", 1)[1], package)
        parent = package
    # What flowgate and the kubeconfig loader take from the client package, from their own modules.
    client = sys.modules["kubernetes_asyncio.client"]
    client.ApiClient = importlib.import_module("kubernetes_asyncio.client.api_client").ApiClient  # type: ignore[attr-defined]
    client.Configuration = importlib.import_module("kubernetes_asyncio.client.configuration").Configuration  # type: ignore[attr-defined]
