"""NVIDIA's real TensorRT Python bindings, imported on a machine without a GPU or TensorRT.

The ``tensorrt_cu13_bindings`` wheel (the ``test`` extra) ships ``tensorrt_bindings/tensorrt.so``, the
pybind11 module that ``import tensorrt`` is. It links against ``libnvinfer.so.N``,
``libnvinfer_plugin.so.N`` and ``libnvonnxparser.so.N`` but calls none of them at import time, so
``standin.c`` (next to this file) provides the ten symbols it imports, each returning NULL. They are
compiled with gcc on first use into ``.pytest_cache/trt-standin/<hash>/``, each with the soname the
bindings ask for, and loaded with ``RTLD_GLOBAL`` before the import: the dynamic linker then satisfies
the bindings' ``DT_NEEDED`` entries with the already loaded stand-ins, so nothing is written into
site-packages and no ``LD_LIBRARY_PATH`` is needed.

What is real: every class, enum (names and values), property and pybind11 docstring, and the
bindings' own C++ code (the ``IProfiler``/``ILogger`` trampolines, ``trt.Logger``). What is not:
anything that reaches libnvinfer. ``trt.Runtime(logger)`` raises ``TypeError: pybind11::init():
factory function returned nullptr``, so no engine or execution context can be created.

Where the wheel ``tensorrt_libs`` (real TensorRT) is installed, the bindings are imported as they are.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import NamedTuple

BINDINGS = "tensorrt_bindings"
STANDIN_SOURCE = Path(__file__).with_name("standin.c")
# library name -> the macro that selects its symbols in standin.c
_LIBRARIES = {
    "libnvinfer": "STANDIN_NVINFER",
    "libnvinfer_plugin": "STANDIN_PLUGIN",
    "libnvonnxparser": "STANDIN_ONNXPARSER",
}
_SONAME = re.compile(rb"\b(libnvinfer|libnvinfer_plugin|libnvonnxparser)\.so\.(\d+)\b")
# pybind11 qualifies every TensorRT type with the extension module's name
_QUALIFIER = BINDINGS + ".tensorrt."
# pybind11 3.x spells argument types by protocol; TENSORRT_API.md and the double use the plain names
_PLAIN_TYPES = {
    "typing.SupportsInt": "int",
    "typing.SupportsFloat": "float",
    "typing_extensions.Buffer": "Buffer",
    "collections.abc.Buffer": "Buffer",
    "collections.abc.Sequence": "Sequence",
}

_lock = threading.Lock()
_module: types.ModuleType | None = None
_skip_reason = ""
_error = ""
_handles: list[ctypes.CDLL] = []  # the stand-ins stay loaded for the life of the process


def load_bindings() -> types.ModuleType | None:
    """The real ``tensorrt_bindings`` module (what ``import tensorrt as trt`` gives), or None.

    None means it cannot be had here: not Linux x86-64, the wheel is not installed or there is no
    C compiler; ``skip_reason()`` says which. Any other failure (the stand-ins no longer satisfy a
    newer wheel, say) raises RuntimeError rather than turn the tests into skips. Cached: later calls
    return the same module (or the same answer) at once.
    """
    global _module, _skip_reason, _error
    with _lock:
        if _module is not None or _skip_reason:
            return _module
        if _error:
            raise RuntimeError(_error)
        try:
            _module = _load()
        except _Unavailable as exc:
            _skip_reason = str(exc)
        except RuntimeError as exc:
            _error = str(exc)
            raise
        return _module


def skip_reason() -> str:
    """Why ``load_bindings()`` returned None (empty before the first call or when it succeeded)."""
    return _skip_reason


class _Unavailable(Exception):
    pass


def _load() -> types.ModuleType:
    if BINDINGS in sys.modules:  # e.g. a GPU test imported the real thing first
        return sys.modules[BINDINGS]
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise _Unavailable(
            f"NVIDIA's bindings wheel is for Linux x86-64, not {sys.platform}/{platform.machine()}"
        )
    spec = importlib.util.find_spec(BINDINGS)
    if spec is None or not spec.submodule_search_locations:
        raise _Unavailable(
            f"{BINDINGS} is not installed (the tensorrt_cu13_bindings wheel of pip install -e '.[test]')"
        )
    if importlib.util.find_spec("tensorrt_libs") is not None:  # real TensorRT libraries: no stand-ins
        return importlib.import_module(BINDINGS)
    extension = _extension(Path(next(iter(spec.submodule_search_locations))))
    sonames = sorted({(m[1] + b".so." + m[2]).decode() for m in _SONAME.finditer(extension.read_bytes())})
    if not any(name.startswith("libnvinfer.so.") for name in sonames):
        raise RuntimeError(f"{extension} names no libnvinfer.so.N; cannot tell which stand-ins it needs")
    paths = _build(sonames)
    _probe(paths)
    for path in paths:
        _handles.append(ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL))
    try:
        return importlib.import_module(BINDINGS)
    except ImportError as exc:
        raise RuntimeError(f"import {BINDINGS} with the stand-ins failed: {exc}") from exc


def _extension(package: Path) -> Path:
    found = sorted(package.glob("tensorrt*.so"))
    if not found:
        raise RuntimeError(f"no tensorrt*.so in {package}")
    return found[0]


def _cache_dir(key: str) -> Path:
    root = Path(__file__).resolve().parents[2] / ".pytest_cache" / "trt-standin" / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        return root
    except OSError:  # read-only checkout: a private directory of our own
        return Path(tempfile.mkdtemp(prefix="trt-standin-"))


def _build(sonames: list[str]) -> list[Path]:
    source = STANDIN_SOURCE.read_bytes()
    key = hashlib.sha256(source + "\0".join(sonames).encode()).hexdigest()[:16]
    folder = _cache_dir(key)
    paths = []
    for soname in sonames:
        target = folder / soname
        if not target.exists():
            compiler = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
            if compiler is None:
                raise _Unavailable("no C compiler (gcc) to build the stand-ins for libnvinfer")
            # build beside the target and rename, so concurrent test processes never load a half-written file
            partial = folder / f".{soname}.{os.getpid()}.tmp"
            command = [compiler, "-shared", "-fPIC", "-O1", "-w", f"-D{_LIBRARIES[soname.split('.so.')[0]]}"]
            command += [f"-Wl,-soname,{soname}", "-o", str(partial), str(STANDIN_SOURCE)]
            run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
            if run.returncode != 0:
                partial.unlink(missing_ok=True)
                raise RuntimeError(
                    f"building the {soname} stand-in failed: {' '.join(command)}\n{run.stderr}"
                )
            os.replace(partial, target)
        paths.append(target)
    return paths


_PROBE = """
import ctypes, sys
for path in sys.argv[1:]:
    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
import tensorrt_bindings
print(tensorrt_bindings.__version__)
"""


def _probe(paths: list[Path]) -> None:
    """Import the bindings in a child process first: should a newer wheel call into a stand-in at import
    time and crash, this fails the tests with a message instead of killing the test process."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if run.returncode != 0:
        how = f"signal {-run.returncode}" if run.returncode < 0 else f"exit status {run.returncode}"
        raise RuntimeError(f"import {BINDINGS} with the stand-ins failed ({how}):\n{run.stderr[-2000:]}")


class Signature(NamedTuple):
    """One pybind11 signature line, ``name(self: T, a: A, b: B = d) -> R``, taken apart."""

    name: str
    params: list[tuple[str, str, str | None]]  # (name, type, default or None); self included
    returns: str

    def plain(self) -> str:
        """The signature without ``self``, in TENSORRT_API.md's spelling: ``name(a: int) -> bool``."""
        params = [
            f"{name}: {plain_type(type_)}" + ("" if default is None else f" = {default}")
            for name, type_, default in self.params
            if name != "self"
        ]
        return f"{self.name}({', '.join(params)}) -> {plain_type(self.returns)}"


def plain_type(type_: str) -> str:
    """``typing.SupportsInt`` -> ``int``, ``tensorrt_bindings.tensorrt.Dims`` -> ``Dims`` and so on."""
    type_ = type_.replace(_QUALIFIER, "")
    for spelled, plain in _PLAIN_TYPES.items():
        type_ = type_.replace(spelled, plain)
    return type_


def _resolve(obj_path: str) -> object:
    trt = load_bindings()
    if trt is None:
        raise RuntimeError(f"NVIDIA's TensorRT bindings are not available: {skip_reason()}")
    obj: object = trt
    for depth, part in enumerate(obj_path.split(".")):
        if not hasattr(obj, part):
            where = ".".join(["trt", *obj_path.split(".")[:depth]])
            raise AttributeError(f"NVIDIA's TensorRT has no {obj_path!r}: {where} has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _split_top_level(text: str) -> list[str]:
    """Split at the commas that are not inside brackets (types such as ``dict[str, int]``, defaults such
    as ``<Severity.WARNING: 2>``)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{<":
            depth += 1
        elif char in ")]}>" and not (char == ">" and text[i - 1] == "-"):
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def parse_signature(line: str) -> Signature:
    """Take apart one pybind11 signature line (see ``Signature``)."""
    match = re.fullmatch(r"(\w+)\((.*)\)\s*->\s*(.+)", line.strip())
    if match is None:
        raise ValueError(f"not a pybind11 signature: {line!r}")
    params: list[tuple[str, str, str | None]] = []
    for part in _split_top_level(match[2]):
        name, _, rest = part.partition(":")
        type_, _, default = rest.partition(" = ")
        params.append((name.strip(), type_.strip(), default.strip() or None))
    return Signature(match[1], params, match[3].strip())


def nvidia_signatures(obj_path: str) -> list[str]:
    """Every signature pybind11 put at the top of the docstring of ``trt.<obj_path>``, module qualifier
    removed; several for an overloaded function, in overload order.

    ``"IExecutionContext.execute_async_v3"`` ->
    ``["execute_async_v3(self: IExecutionContext, stream_handle: typing.SupportsInt) -> bool"]``.
    A class gives its ``__init__`` signatures. A property gives ``["name: type"]`` (its getter's return
    type; ``nvidia_writable`` tells whether it has a setter). Raises AttributeError when NVIDIA's module
    has no such name.
    """
    obj = _resolve(obj_path)
    name = obj_path.rsplit(".", 1)[-1]
    if isinstance(obj, property):
        getter = obj.fget.__doc__ if obj.fget is not None else None
        match = re.match(r"\(.*\)\s*->\s*(.+)", (getter or "").strip())
        if match is None:
            raise ValueError(f"trt.{obj_path}: no signature in its getter's docstring {getter!r}")
        return [f"{name}: {match[1].strip().replace(_QUALIFIER, '')}"]
    if isinstance(obj, type):
        obj, name = obj.__init__, "__init__"
    lines = [line.strip() for line in (getattr(obj, "__doc__", None) or "").splitlines()]
    if lines and lines[0].startswith(f"{name}(*args, **kwargs)") and "Overloaded function." in lines[:2]:
        found = [re.sub(r"^\d+\.\s+", "", line) for line in lines if re.match(rf"\d+\.\s+{name}\(", line)]
    else:
        found = lines[:1] if lines and lines[0].startswith(f"{name}(") else []
    if not found:
        raise ValueError(f"trt.{obj_path}: its docstring does not start with a pybind11 signature")
    return [line.replace(_QUALIFIER, "") for line in found]


def nvidia_signature(obj_path: str) -> str:
    """The first (for an overloaded function, the first overload's) signature of ``trt.<obj_path>``;
    see ``nvidia_signatures``. ``parse_signature`` takes it apart."""
    return nvidia_signatures(obj_path)[0]


def nvidia_writable(obj_path: str) -> bool:
    """Whether the property ``trt.<obj_path>`` has a setter."""
    obj = _resolve(obj_path)
    if not isinstance(obj, property):
        raise TypeError(f"trt.{obj_path} is not a property but {type(obj).__name__}")
    return obj.fset is not None
