"""kubernetes_asyncio without its generated API classes and models until something asks for one,
and without the HTTP stack it imports until a request goes through its ApiClient.

Its package imports every generated API class and model at once (about 30 MB resident), and its
ApiClient imports the models again to deserialise typed answers. flowgate reads JSON itself and
uses only the ApiClient, its Configuration and the kubeconfig loader, so a node agent would carry
the weight on every node for nothing. `install()` registers the packages `kubernetes_asyncio`,
`kubernetes_asyncio.client` and `kubernetes_asyncio.client.models` as lazy modules: their
submodules import as usual, and the first other name asked of one runs that package's own
`__init__` in it, so `from kubernetes_asyncio.client import CoreV1Api` still works.

The node agent speaks HTTP on plain streams (gateway/kube/http.py), yet the kubeconfig loader
imports the ApiClient (and with it aiohttp, dateutil and multiprocessing), its OIDC refresher
aiohttp, and the Configuration urllib3, all at their top, for calls the agent never makes. So
aiohttp and urllib3 are lazy packages as well, and the client package's ApiClient a stand-in that
imports the real one when first called: a process that never sends a request through the library
never loads them (some 15 MB of an agent's memory)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

LAZY_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")
# Imported at the top of kubernetes_asyncio's modules, used only inside calls flowgate makes
# through the library (the gateway's and the CLI's requests) or not at all (basic auth).
LAZY_DEPENDENCIES = ("aiohttp", "urllib3")


def _lazy_package(name: str, directory: Path) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(directory)]
    module.__file__ = str(directory / "__init__.py")
    module.__package__ = name  # for the relative imports of its __init__
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


class _WholePackageFirst:
    """A meta path finder for lazy dependencies: importing any of their submodules runs the
    package's own `__init__` first, as an ordinary import would (their submodules read names the
    package defines, e.g. aiohttp.http its `__version__`)."""

    def __init__(self) -> None:
        self.pending: dict[str, Callable[[], None]] = {}

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        top, dot, _ = fullname.partition(".")
        load = self.pending.get(top) if dot else None
        if load is not None:
            load()
        return None  # found by the usual finders


_WHOLE_PACKAGE_FIRST = _WholePackageFirst()


def _lazy_dependency(name: str, directory: Path) -> types.ModuleType:
    """A package that is imported in full (its `__init__` run in this module) the first time one
    of its names is read or one of its submodules imported."""
    module = types.ModuleType(name)
    module.__path__ = [str(directory)]
    module.__file__ = str(directory / "__init__.py")
    module.__package__ = name

    def load() -> None:
        if _WHOLE_PACKAGE_FIRST.pending.pop(name, None) is not None:
            init = directory / "__init__.py"
            exec(compile(init.read_text(), str(init), "exec"), module.__dict__)

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__version__", "__all__"):
            raise AttributeError(attr)  # what the import machinery probes for
        load()
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    _WHOLE_PACKAGE_FIRST.pending[name] = load
    if _WHOLE_PACKAGE_FIRST not in sys.meta_path:
        sys.meta_path.insert(0, _WHOLE_PACKAGE_FIRST)
    return module


def _deferred(module: str, name: str) -> Any:
    """A stand-in for the class `module.name` that imports it when first called."""

    def make(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    make.__name__ = make.__qualname__ = name
    return make


def _deferred_module(name: str, origin: Path, classes: tuple[str, ...]) -> types.ModuleType:
    """A stand-in for the module `name` (the file `origin`) whose classes are stand-ins that load
    the real module from its file when one is first called: for a module whose class bodies touch
    a lazy package at import (annotations), so importing it would load that package."""
    real_name = f"{name}__real"

    def real() -> types.ModuleType:
        if real_name not in sys.modules:
            real_spec = importlib.util.spec_from_file_location(real_name, origin)
            assert real_spec is not None and real_spec.loader is not None
            module = importlib.util.module_from_spec(real_spec)
            sys.modules[real_name] = module
            real_spec.loader.exec_module(module)
        return sys.modules[real_name]

    stand_in = types.ModuleType(name)
    stand_in.__file__ = str(origin)
    for attribute in classes:

        def make(*args: Any, _attribute: str = attribute, **kwargs: Any) -> Any:
            return getattr(real(), _attribute)(*args, **kwargs)

        make.__name__ = make.__qualname__ = attribute
        setattr(stand_in, attribute, make)
    return stand_in


def _module_on_first_use(name: str) -> types.ModuleType:
    """A stand-in for the module `name` that imports it when one of its names is first read."""

    class OnFirstUse(types.ModuleType):
        def __getattr__(self, attribute: str) -> Any:
            if attribute.startswith("__"):
                raise AttributeError(attribute)
            return getattr(importlib.import_module(name), attribute)

    return OnFirstUse(name)


def install() -> None:
    """Before anything imports kubernetes_asyncio; once it is imported, nothing changes."""
    if "kubernetes_asyncio" in sys.modules:
        return
    for dependency in LAZY_DEPENDENCIES:
        found = importlib.util.find_spec(dependency) if dependency not in sys.modules else None
        if found is not None and found.origin is not None and found.submodule_search_locations:
            sys.modules[dependency] = _lazy_dependency(dependency, Path(found.origin).parent)
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
    # The Configuration takes http.client through six.moves at its top (for debug logging only),
    # and with it the email package: resolved when first used.
    import six  # type: ignore[import-untyped]

    six.moves.http_client = _module_on_first_use("http.client")  # an instance attribute wins over six's lazy one
    # What flowgate and the kubeconfig loader take from the client package, from their own modules.
    client = sys.modules["kubernetes_asyncio.client"]
    client.ApiClient = _deferred("kubernetes_asyncio.client.api_client", "ApiClient")  # type: ignore[attr-defined]
    client.Configuration = importlib.import_module("kubernetes_asyncio.client.configuration").Configuration  # type: ignore[attr-defined]
    # The OIDC refresher annotates its methods with aiohttp types: loaded when a token is refreshed.
    openid = "kubernetes_asyncio.config.openid"
    sys.modules[openid] = _deferred_module(openid, directory / "config" / "openid.py", ("OpenIDRequestor",))
