"""Untrusted ONNX files: external-data locations that leave the model's folder are refused.

An ONNX tensor may keep its bytes in another file (``data_location = EXTERNAL`` and an
``external_data`` entry ``location``, a path relative to the model's folder). A loader that opens
whatever that path names (older ONNX Runtime releases, other ONNX consumers) lets a crafted model read
``../../etc/passwd``, an absolute path, or a symlink to either, into its weights and leak it through
the outputs. Recent ONNX Runtime releases refuse such paths too; amc refuses them first, in one line,
whatever the version.
``check_external_data`` reads the graph only (``load_external_data=False``), walks every tensor
(initializers, sparse initializers, node attributes, subgraphs, functions) and raises ``DataError``
naming the file, the tensor and the location for any location that is empty, absolute, climbs with
``..``, resolves (through symlinks) outside the model's folder, or does not exist. It opens nothing
outside the folder: the lexical checks come first, then ``resolve`` (which reads symlinks, never the
files they point at) and, for a target inside the folder, ``stat``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from amc.errors import DataError

SHOW = 120  # characters of a location or tensor name quoted in a message


def _tensors_of_graph(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    yield from _tensors_of_nodes(graph.node)


def _tensors_of_nodes(nodes: Any) -> Iterator[Any]:
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            sparse_tensors = [attr.sparse_tensor] if attr.HasField("sparse_tensor") else []
            for sparse in [*sparse_tensors, *attr.sparse_tensors]:
                yield from (sparse.values, sparse.indices)
            if attr.HasField("g"):
                yield from _tensors_of_graph(attr.g)
            for sub in attr.graphs:
                yield from _tensors_of_graph(sub)


def external_tensors(proto: Any) -> Iterator[tuple[str, str | None]]:
    """(tensor name, location or None) of every tensor of the model that keeps its data outside."""
    tensors = [*_tensors_of_graph(proto.graph), *(t for f in proto.functions for t in _tensors_of_nodes(f.node))]
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            entries = {e.key: e.value for e in t.external_data}
            yield t.name, entries.get("location")


def _problem(location: str | None, folder: Path) -> str:
    """Why `location` is refused, or '' when it names an existing file inside `folder`."""
    if not location:
        return "names no file"
    if "\0" in location:
        return "holds a NUL byte"
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        return "is an absolute path"
    if ".." in windows.parts:  # the Windows parser splits on both / and \
        return "climbs out of the model's folder with '..'"
    try:
        base = folder.resolve()
        target = (base / location).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return "cannot be resolved (a symlink loop?)"
    if target != base and base not in target.parents:
        return "resolves (through a symlink) outside the model's folder"
    if not target.is_file():
        return "does not exist" if not target.exists() else "is not a file"
    return ""


def _load_graph(path: Path) -> Any:
    try:
        return onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        short = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise DataError(f"{path}: not a readable ONNX file ({short}); re-export it") from None


def check_external_data(path: str | os.PathLike[str], proto: Any = None) -> None:
    """Raise DataError unless every external-data location of the model at `path` is a file inside its folder.

    `proto` is the model as already read (``onnx.load(..., load_external_data=False)``); without it
    the graph is read here, never the external data.
    """
    path = Path(path)
    proto = _load_graph(path) if proto is None else proto
    for name, location in external_tensors(proto):
        reason = _problem(location, path.parent)
        if reason:
            raise DataError(f"{path}: tensor {name[:SHOW]!r} keeps its data in {(location or '')[:SHOW]!r}, which "
                            f"{reason}; refusing to load it (external data must be a file inside the model's folder)")
