"""Make lava-nc 0.10.0 importable on Python 3.11, without touching site-packages.

Two things break, and are fixed here, before Lava is imported:

1. Lava 0.10.0 declares ``python <3.11``. Exactly one thing breaks on 3.11:
``lava/magma/compiler/var_model.py`` uses ``ByteEncoder()`` *instances* as
dataclass field defaults (``x: ByteEncoder = ByteEncoder()``). Since Python
3.11, ``dataclasses`` rejects any default whose class is unhashable (a
``@dataclass`` with ``eq=True`` sets ``__hash__ = None``), so the module, and
with it every Lava compiler import, raises ``ValueError: mutable default``.

The fix: a meta-path finder that loads *only* that module from its original
source, with those defaults rewritten (via the AST) to
``dataclasses.field(default_factory=ByteEncoder)``, which is what the code
means: each instance gets its own fresh ``ByteEncoder``. The source is compiled
in memory, so no ``.pyc`` in site-packages is read or written for it.

2. Lava's ``message_infrastructure/multiprocessing.py`` calls
   ``multiprocessing.set_start_method("fork")`` without ``force`` when imported, which
   raises "context has already been set" if anything fixed the start method before (numba
   does, when it starts its threads: ``multiprocessing.get_start_method()``). If the method
   is already set, that one module is imported with ``set_start_method`` forced, so Lava
   still gets the ``fork`` it needs.

Call :func:`install` before the first ``import lava...``; the Lava backend does that.
"""
from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

PATCHED_MODULE = "lava.magma.compiler.var_model"
_FIELD_NAME = "_neurodeploy_dataclass_field"


class _DefaultInstanceToFactory(ast.NodeTransformer):
    """Rewrite ``name: T = T()`` inside class bodies to ``field(default_factory=T)``."""

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        for statement in node.body:
            value = getattr(statement, "value", None)
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "ByteEncoder"
                and not value.args
                and not value.keywords
            ):
                statement.value = ast.Call(
                    func=ast.Name(id=_FIELD_NAME, ctx=ast.Load()),
                    args=[],
                    keywords=[ast.keyword(arg="default_factory", value=ast.Name(id="ByteEncoder", ctx=ast.Load()))],
                )
        return node


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Loads the module from source with the dataclass defaults rewritten."""

    def get_code(self, fullname):  # noqa: D102 - importlib protocol
        source = self.get_data(self.get_filename(fullname))
        tree = _DefaultInstanceToFactory().visit(ast.parse(source, self.path))
        return compile(ast.fix_missing_locations(tree), self.path, "exec", dont_inherit=True)

    def exec_module(self, module) -> None:  # noqa: D102 - importlib protocol
        module.__dict__[_FIELD_NAME] = dataclasses.field
        super().exec_module(module)


class _VarModelFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`PATCHED_MODULE` on the normal path and swaps in our loader."""

    def find_spec(self, fullname, path, target=None):  # noqa: D102 - importlib protocol
        if fullname != PATCHED_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                spec.loader = _PatchedSourceLoader(fullname, spec.origin)
                return spec
        return None


def needs_patch() -> bool:
    """True on Python versions where Lava's var_model fails to import."""
    return sys.version_info >= (3, 11)


LAVA_MULTIPROCESSING = "lava.magma.runtime.message_infrastructure.multiprocessing"


def install() -> None:
    """Apply both fixes (idempotent). Must run before Lava's compiler is imported."""
    if needs_patch() and not any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        if PATCHED_MODULE in sys.modules:
            raise RuntimeError(
                f"{PATCHED_MODULE} was imported before neurodeploy's Lava compatibility fix; "
                "import neurodeploy.backends.lava_compat first"
            )
        sys.meta_path.insert(0, _VarModelFinder())
    _import_lava_multiprocessing()


def _import_lava_multiprocessing() -> None:
    """Import Lava's multiprocessing module even if the start method was set before."""
    import multiprocessing

    if LAVA_MULTIPROCESSING in sys.modules or multiprocessing.get_start_method(allow_none=True) is None:
        return
    original = multiprocessing.set_start_method

    def forced(method, force=False):
        original(method, force=True)

    multiprocessing.set_start_method = forced
    try:
        importlib.import_module(LAVA_MULTIPROCESSING)
    finally:
        multiprocessing.set_start_method = original
