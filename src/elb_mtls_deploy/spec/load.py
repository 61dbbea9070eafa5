"""Read a spec file into a `Spec`, with every problem reported as file:line:column.

Owns the only I/O of the spec stage: reading the file (a regular file, bounded in size by
the bytes actually read, not by what `stat` claims), parsing YAML into plain values while
remembering where each value was written, `${VAR}` interpolation from the environment,
and turning pydantic errors into one readable message. YAML anchors and aliases are
refused: a spec has no use for them and they are how "billion laughs" documents blow up
memory. The secrets a spec points at (key and .p12 passwords, keys held in variables) are
registered for redaction as soon as the spec is valid.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from elb_mtls_deploy.errors import SpecError, register_secret
from elb_mtls_deploy.spec.model import KeySource, ReferenceError_, Spec

MAX_SPEC_BYTES = 1024 * 1024
MAX_DEPTH = 32
# libyaml's parser when PyYAML was built with it (it keeps line/column marks too).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """A parsed document plus where each of its values was written (1-based line/col)."""

    data: Any
    marks: Mapping[Path_, tuple[int, int]]


def load_spec(path: Path, env: Mapping[str, str]) -> Spec:
    """Parse, interpolate and validate; raise `SpecError` with file:line:col on any problem."""
    located = parse_yaml(_read(path), str(path))
    data = _interpolate(located, env, str(path))
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, located, str(path)) from None
    for name in _secret_variables(spec):
        register_secret(env.get(name))
    return spec


def _secret_variables(spec: Spec) -> Iterator[str]:
    """Environment variables whose values are secrets: passwords and keys held in them."""
    for _, cert in spec.all_certificates():
        sources = [getattr(cert, "key", None)]
        imported = getattr(cert, "import_", None)
        if imported is not None:
            sources.append(imported.key)
        for source in sources:
            if isinstance(source, KeySource):
                yield from (n for n in (source.password_env, source.env) if n)
        p12 = getattr(cert, "p12", None)
        if p12 is not None and p12.password_env:
            yield p12.password_env


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """At most `limit` bytes of a regular file; anything else is a `SpecError` naming it.

    `stat` sizes lie for /dev/zero, FIFOs and /proc files, so the check is on the bytes
    read (limit + 1 at most), and a non-regular file is refused before it is read (a FIFO
    is opened non-blocking, so no writer is waited for).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file", hint=f"check the path to the {what}") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory", hint=f"pass the {what} file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise SpecError(f"{path}: is a directory", hint=f"pass the {what} file")
        raise SpecError(
            f"{path}: is not a regular file (a device, FIFO or socket)",
            hint=f"pass the {what} as an ordinary file",
        )
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise SpecError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > limit:
        raise SpecError(
            f"{path}: the file is larger than {limit} bytes; a {what} may be at most {limit} bytes",
            hint=f"is this the right file? A {what} is a small text file.",
        )
    return raw


def _read(path: Path) -> str:
    raw = read_bounded(path, MAX_SPEC_BYTES, "spec")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{path}:{line}: the file is not UTF-8 text", hint="save the spec as UTF-8 YAML"
        ) from None


def parse_yaml(text: str, filename: str) -> Located:
    """YAML to plain values + a map of positions; refuses aliases, tags and deep nesting."""
    if "\x00" in text:
        raise SpecError(f"{filename}: the file contains NUL bytes; it is not a YAML text file")
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise SpecError(f"{where}: invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{filename}: invalid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{filename}: the document is nested too deeply") from None
    if node is None:
        raise SpecError(f"{filename}: the file is empty", hint="start from config/example.yaml")
    marks: dict[Path_, tuple[int, int]] = {}
    data = _Builder(filename, marks).build(node, ())
    if not isinstance(data, dict):
        raise SpecError(f"{filename}:1:1: the spec must be a mapping (key: value) at the top")
    return Located(data, marks)


class _Builder:
    """Turns composed YAML nodes into plain values; an alias shows up as a node seen twice."""

    def __init__(self, filename: str, marks: dict[Path_, tuple[int, int]]) -> None:
        self.filename = filename
        self.marks = marks
        self.seen: set[int] = set()
        self.scalars = yaml.constructor.SafeConstructor()

    def where(self, node: yaml.Node) -> str:
        return f"{self.filename}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def build(self, node: yaml.Node, at: Path_) -> Any:
        self.marks.setdefault(at, (node.start_mark.line + 1, node.start_mark.column + 1))
        if len(at) > MAX_DEPTH:
            raise SpecError(f"{self.where(node)}: nested more than {MAX_DEPTH} levels deep")
        if id(node) in self.seen:
            line, col = self.marks[at]
            raise SpecError(
                f"{self.filename}:{line}:{col}: YAML aliases ('*name') are not supported in a spec"
            )
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, at)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
        if not node.tag.startswith("tag:yaml.org,2002:"):
            raise SpecError(f"{self.where(node)}: YAML tag {node.tag!r} is not supported in a spec")
        try:
            return self.scalars.construct_object(node)
        except (yaml.YAMLError, ValueError) as exc:
            raise SpecError(f"{self.where(node)}: invalid value: {exc}") from None

    def mapping(self, node: yaml.MappingNode, at: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(f"{self.where(key_node)}: YAML merge keys ('<<') are not supported")
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(f"{self.where(key_node)}: mapping keys must be plain words")
            key = str(key_node.value)
            if key in result:
                raise SpecError(f"{self.where(key_node)}: key {key!r} appears twice in a mapping")
            self.marks[(*at, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, (*at, key))
        return result


def _interpolate(located: Located, env: Mapping[str, str], filename: str) -> Any:
    """Replace `${VAR}` in string values; `$$` is a literal `$`. Missing variables are errors."""

    def walk(value: Any, at: Path_) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*at, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*at, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _VAR.sub(lambda m: _lookup(m, env, located, at, filename), value)
        return value

    return walk(located.data, ())


def _lookup(
    match: re.Match[str], env: Mapping[str, str], located: Located, at: Path_, fn: str
) -> str:
    name = match.group(1)
    if name is None:
        return "$"
    value = env.get(name)
    if value is None or value == "":
        raise SpecError(
            f"{_where(fn, located, at)}: environment variable {name} is not set "
            f"(used at {_dotted(at)})",
            hint=f"export {name}=... before running, or write the value into the spec",
        )
    return value


def _spec_error(exc: ValidationError, located: Located, filename: str) -> SpecError:
    errors = exc.errors()
    # A list whose items failed is also reported as "too short"; that second line is noise.
    errors = [
        e
        for e in errors
        if not (e["type"] == "too_short" and any(len(o["loc"]) > len(e["loc"]) for o in errors))
    ]
    problems = tuple(_describe(err, located, filename) for err in errors)
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return SpecError(f"{filename}: the spec is not valid ({count} {noun}):", problems=problems)


def _describe(err: Any, located: Located, filename: str) -> str:
    ctx_error = (err.get("ctx") or {}).get("error")
    loc: Path_ = ctx_error.loc if isinstance(ctx_error, ReferenceError_) else tuple(err["loc"])
    at = _real_path(loc, located.data)
    message = str(ctx_error) if ctx_error is not None else err["msg"]
    if err["type"] == "extra_forbidden":
        message = f"unknown field {at[-1]!r}; check the spelling (see `deploy schema`)"
    elif err["type"] == "missing":
        message = f"missing required field {loc[-1]!r}"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{_where(filename, located, at)}: {_dotted(at) or '(top)'}: {message}"


def _real_path(loc: Path_, data: Any) -> Path_:
    """Drop pydantic's union tags from a loc so it matches the document's own keys."""
    at: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            at.append(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            at.append(part)
        elif not isinstance(node, (dict, list)) or isinstance(part, int):
            break
        elif part in ("generated", "imported", "embedded", "huaweicloud"):
            continue
        else:
            at.append(part)
            break
    return tuple(at)


def _where(filename: str, located: Located, at: Path_) -> str:
    for depth in range(len(at), -1, -1):
        mark = located.marks.get(at[:depth])
        if mark:
            return f"{filename}:{mark[0]}:{mark[1]}"
    return filename


def _dotted(at: Path_) -> str:
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
