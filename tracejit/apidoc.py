"""The API reference, docs/api.md, generated from the docstrings of the public namespace.

    python -m tracejit.apidoc            # print the reference
    python -m tracejit.apidoc --write    # rewrite docs/api.md (run after changing a docstring)

Invariants: every name in `tj.__all__` appears exactly once under a heading of its own
(names of no listed group fall into "Operations"), in a fixed order, so the text depends on
the code alone (no addresses, no paths, no environment); tests/test_apidoc.py fails when
docs/api.md differs from `render()`, and runs every example as a doctest.
"""
from __future__ import annotations

import inspect
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

# Groups in the order the reference shows them; "Operations" takes the remaining functions.
GROUPS: list[tuple[str, list[str]]] = [
    ("Tensors and Variables", ["Tensor", "constant", "convert_to_tensor", "Variable",
                               "VariableSynchronization", "VariableAggregation", "fill",
                               "ones", "zeros", "ones_like", "zeros_like", "range"]),
    ("Gradients", ["GradientTape", "UnconnectedGradients", "custom_gradient",
                   "recompute_grad", "stop_gradient"]),
    ("Compiled functions", ["compile", "function", "config", "clear_caches",
                            "executing_eagerly", "enable_eager_execution"]),
    ("Control flow", ["cond", "switch_case", "while_loop", "fori_loop", "scan", "map_fn",
                      "vectorized_map", "foldl", "foldr"]),
]
# Classes a user never constructs directly (tensors come from tj.constant and the ops).
NO_CONSTRUCTOR = {"Tensor"}
HEADER = """# API reference

`import tracejit as tj`. Generated from the docstrings by `python -m tracejit.apidoc --write`
(tests/test_apidoc.py fails when this file is stale and runs every example). Operations take
TensorFlow's argument names; the `name` argument TensorFlow's ops take is accepted and
ignored.
"""


def _default(v: Any) -> str:
    if isinstance(v, np.dtype):
        return f"tj.{v.name if v.name != 'bool' else 'bool_'}"
    return repr(v)


def signature(obj: Any, drop_self: bool = False) -> str:
    """`(a, b=1)`: the parameters of `obj` without annotations, defaults as written."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts: list[str] = []
    star_done = False
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
            star_done = True
            continue
        if p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        parts.append(p.name if p.default is p.empty else f"{p.name}={_default(p.default)}")
    return "(" + ", ".join(parts) + ")"


def _doc_text(obj: Any) -> str:
    """The docstring as Markdown: prose kept, examples (`>>>` runs and indented blocks
    after a line ending in a colon) fenced as Python."""
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```python", *block, "```"]
            continue
        if line.startswith("    ") and (not out or out[-1] == "" or out[-1].endswith(":")):
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["```python", *block, "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip()


def _members(cls: type) -> list[tuple[str, Any]]:
    """The public methods and properties `cls` defines or inherits from tracejit bases."""
    seen: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if not base.__module__.startswith("tracejit"):
            continue
        for name, v in vars(base).items():
            if not name.startswith("_") and (callable(v) or isinstance(v, property)
                                             or isinstance(v, (staticmethod, classmethod))):
                seen[name] = v
    return sorted(seen.items())


def _member_entries(prefix: str, cls: type) -> list[str]:
    out: list[str] = []
    for name, m in _members(cls):
        if isinstance(m, property):
            out += [f"#### `{prefix}.{name}` (property)", "", _doc_text(m.fget), ""]
        else:
            f = m.__func__ if isinstance(m, (staticmethod, classmethod)) else m
            out += [f"#### `{prefix}.{name}{signature(f, drop_self=True)}`", "",
                    _doc_text(f), ""]
    return out


def _entry(qual: str, obj: Any) -> list[str]:
    if inspect.isclass(obj):
        init = obj.__init__ if "__init__" in vars(obj) else None
        sig = "" if init is None or obj.__name__ in NO_CONSTRUCTOR else \
            signature(init, drop_self=True)
        out = [f"### `{qual}{sig}`", "", _doc_text(obj), ""]
        if issubclass(obj, BaseException):
            return out
        return out + _member_entries(obj.__name__, obj)
    if callable(obj):
        return [f"### `{qual}{signature(obj)}`", "", _doc_text(obj), ""]
    # An object with methods (tj.config).
    return [f"### `{qual}`", "", _doc_text(type(obj)), ""] + _member_entries(qual, type(obj))


def render() -> str:
    """The whole reference as Markdown text."""
    import tracejit as tj
    from tracejit import errors, nn
    public = list(tj.__all__)
    placed: set[str] = set()
    out = [HEADER]
    for title, names in GROUPS:
        out += [f"## {title}", ""]
        for n in names:
            out += _entry(f"tj.{n}", getattr(tj, n))
            placed.add(n)
    dtypes = sorted(n for n in public if isinstance(getattr(tj, n), np.dtype))
    placed.update(dtypes)
    constants = sorted(n for n in public if getattr(tj, n) is None)
    placed.update(constants)
    namespaces = ("errors", "nn", "math", "linalg", "numpy", "experimental", "autodiff",
                  "random", "debugging", "nest")
    placed.update(namespaces)
    placed.update(n for n in public if inspect.isclass(getattr(tj, n))
                  and issubclass(getattr(tj, n), BaseException))     # under "Errors"
    ops = sorted(n for n in public if n not in placed)
    out += ["## Operations", ""]
    for n in ops:
        out += _entry(f"tj.{n}", getattr(tj, n))
    out += ["## Data types", "",
            "NumPy dtypes: " + ", ".join(f"`tj.{n}`" for n in dtypes)
            + ". `tj.float16` is named so that using it raises `DTypeError`.", ""]
    out += ["## Constants", "",
            ", ".join(f"`tj.{n}`" for n in constants)
            + ": None, so that `x[:, tj.newaxis]` adds an axis, as NumPy's and TensorFlow's.",
            ""]
    out += ["## `tj.nn`", ""]
    for n in nn.__all__:
        f = getattr(nn, n)
        if getattr(tj, n, None) is f:
            out += [f"### `tj.nn.{n}`", "", f"The same function as `tj.{n}`.", ""]
        else:
            out += _entry(f"tj.nn.{n}", f)
    shown: dict[int, str] = {}      # function -> the heading it is documented under
    for space in ("math", "linalg", "numpy", "debugging"):
        ns: types.ModuleType = getattr(tj, space)
        title = f"`tj.{space}`" + (" (also `tj.experimental.numpy`)" if space == "numpy" else "")
        out += [f"## {title}", "", "Aliases, as TensorFlow's namespace of that name:", ""]
        own: list[str] = []
        for n in ns.__all__:
            f = getattr(ns, n)
            target = next((f"tj.{k}" for k in public if getattr(tj, k) is f), None) \
                or next((f"tj.nn.{k}" for k in nn.__all__ if getattr(nn, k) is f), None) \
                or shown.get(id(f))
            if target is None:          # public only here: its own entry, below
                own += _entry(f"tj.{space}.{n}", f)
                shown[id(f)] = f"tj.{space}.{n}"
            else:
                out.append(f"- `tj.{space}.{n}` = `{target}`")
        out += [""] + own
    out += ["## `tj.autodiff`", "", "Forward mode, as TensorFlow's `tf.autodiff` (whose "
            "GradientTape is `tj.GradientTape`).", ""]
    for n in tj.autodiff.__all__:
        out += _entry(f"tj.autodiff.{n}", getattr(tj.autodiff, n))
    out += ["## `tj.nest`", "", _doc_text(tj.nest).strip(), ""]
    for n in tj.nest.__all__:
        out += _entry(f"tj.nest.{n}", getattr(tj.nest, n))
    out += ["## `tj.random`", "", _doc_text(tj.random).split("\nNames:")[0].strip(), ""]
    for n in tj.random.__all__:
        out += _entry(f"tj.random.{n}", getattr(tj.random, n))
    out += ["## Errors (`tj.errors`)", ""]
    for n in errors.__all__:
        obj = getattr(errors, n)
        if inspect.isclass(obj):
            bases = " and ".join(f"`{b.__name__}`" for b in obj.__bases__)
            also = f" (also `tj.{n}`)" if getattr(tj, n, None) is obj else ""
            out += [f"### `tj.errors.{n}`{also}", "", f"A subclass of {bases}. "
                    + _doc_text(obj), ""]
    return "\n".join(out).rstrip() + "\n"


def doc_page_main(argv: list[str] | None, text: str, name: str, module: str) -> int:
    """The command line of a generated docs page: print `text`, or with `--write`
    rewrite docs/`name` in the repository."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        path = Path(__file__).resolve().parent.parent / "docs" / name
        path.write_text(text)
        print(f"wrote {path}")
    elif not args:
        sys.stdout.write(text)
    else:
        print(f"usage: python -m {module} [--write]", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or with `--write` rewrite docs/api.md in the repository."""
    return doc_page_main(argv, render(), "api.md", "tracejit.apidoc")


if __name__ == "__main__":
    sys.exit(main())
