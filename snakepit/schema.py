"""One way to declare and validate data: group data, CUDA manifests and the secrets file.

Every input is a tree of `Schema` models (pydantic v2, strict): each key has its type, its
default and a one-line description in one place, unknown keys are errors with the nearest
valid name, and a failure becomes one `DataError` line in the project's form
``<file>: host <host>: <field.path>: <what is wrong>``. ``docs/data.md`` is rendered from
these models (`render_docs`), so the documentation cannot drift from what is accepted.

Strict means no coercion: ``"8123"`` is not a port and ``True`` is not a uid.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticUndefined

__all__ = [
    "DataError",
    "Field",
    "FieldProblem",
    "Schema",
    "closest",
    "load_yaml",
    "render_model_docs",
    "unknown_keys_first",
    "validate",
]

M = TypeVar("M", bound="Schema")


class DataError(ValueError):
    """Bad data; the message names the file (when known), the host, the field and the fault."""

    def __init__(self, field_path: str, problem: str, *, host: str | None = None):
        self.field_path = field_path
        self.problem = problem
        self.host = host
        self.source: str | None = None
        super().__init__(self._message())

    def with_source(self, source: str | None) -> DataError:
        self.source = source
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        where = f"{self.source}: " if self.source else ""
        who = f"host {self.host}: " if self.host else ""
        path = f"{self.field_path}: " if self.field_path else ""
        return f"{where}{who}{path}{self.problem}"


class FieldProblem(ValueError):
    """Raised by a validator about a field below the one it validates (``config.X``)."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class Schema(BaseModel):
    """Base of every data model: strict types, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def closest(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest choice, or nothing."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def validate(model: type[M], data: Any, *, host: str | None = None, prefix: str = "") -> M:
    """``model`` from ``data``, or the first problem as a `DataError`."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _data_error(model, error, host, prefix) from None


def field_path(loc: Sequence[str | int], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


# -- pydantic's errors in our words ----------------------------------------------------------

_TYPE_NAMES = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "bool_type": "bool",
    "bool_parsing": "bool",
    "string_type": "str",
    "float_type": "number",
    "list_type": "list/tuple",
    "tuple_type": "list/tuple",
    "dict_type": "Mapping",
    "model_type": "Mapping",
    "model_attributes_type": "Mapping",
}


def _data_error(
    model: type[Schema], error: ValidationError, host: str | None, prefix: str
) -> DataError:
    # A misspelled key is the cause of the "missing" error for the key it meant: name it.
    details = error.errors(include_url=False)
    detail = next((d for d in details if d["type"] == "extra_forbidden"), details[0])
    loc = tuple(detail["loc"])
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        choices = list(owner.model_fields) if owner is not None else []
        problem = f"unknown key{closest(str(loc[-1]), choices)}"
        if choices:
            problem += f"; valid keys: {', '.join(choices)}"
    elif kind == "missing" or (kind in _TYPE_NAMES and value is None):
        problem = "is missing"
    elif kind in _TYPE_NAMES:
        scalar = _TYPE_NAMES[kind] not in ("list/tuple", "Mapping")
        shown = f" ({value!r})" if scalar else ""
        problem = f"expected {_TYPE_NAMES[kind]}, got {type(value).__name__}{shown}"
    elif kind == "value_error" and isinstance(detail["ctx"]["error"], FieldProblem):
        cause = detail["ctx"]["error"]
        loc = (*loc, *cause.field.split("."))
        problem = cause.problem
    elif kind == "value_error":
        problem = str(detail["ctx"]["error"])
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}
        bound = next(iter(detail["ctx"].values()))
        problem = f"must be {sign.get(kind, '<')} {bound}, got {value!r}"
    elif kind == "literal_error":
        problem = f"must be {detail['ctx']['expected']}, got {value!r}"
    elif kind == "too_short" or kind == "too_long":
        problem = f"expected {detail['ctx'].get('field_type', 'a value').lower()} " + (
            f"of {detail['ctx'].get('min_length')} to {detail['ctx'].get('max_length')} "
            f"items, got {value!r}"
        )
    else:
        problem = f"{detail['msg']} (got {value!r})"
    return DataError(field_path(loc, prefix), problem, host=host)


def _inner_types(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _inner_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _inner_types(arg)]
    if origin is not None:
        return [t for arg in typing.get_args(annotation) for t in _inner_types(arg)]
    return [annotation]


def _submodels(annotation: Any) -> list[type[Schema]]:
    return [t for t in _inner_types(annotation) if isinstance(t, type) and issubclass(t, Schema)]


def _model_at(model: type[Schema], loc: Sequence[str | int]) -> type[Schema] | None:
    """The model class that holds the mapping at ``loc`` (list indexes skipped)."""
    current: type[Schema] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:  # a key of a free mapping (e.g. a dict of settings)
            continue
        found = _submodels(field.annotation)
        current = found[0] if found else None
    return current


# -- documentation ---------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if origin in (dict, Mapping):
        return f"mapping {_type_name(args[0])} -> {_type_name(args[1])}"
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in args)
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, Schema):
        return f"`{annotation.__name__}`"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(field) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, tuple):
        value = list(value)
    text = repr(value)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


def render_model_docs(root: type[Schema], heading: str = "###") -> str:
    """Markdown tables of ``root`` and every model it contains, depth first, each once."""
    out: list[str] = []
    seen: set[type[Schema]] = set()

    def visit(model: type[Schema]) -> None:
        if model in seen:
            return
        seen.add(model)
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out.append(f"{heading} `{model.__name__}`\n\n{doc}\n")
        out.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
        children: list[type[Schema]] = []
        for name, field in model.model_fields.items():
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            type_text = _type_name(field.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {type_text} | {_default_text(field)} | {description} |")
            children += _submodels(field.annotation)
        out.append("")
        for child in children:
            visit(child)

    visit(root)
    return "\n".join(out)


# -- YAML files ------------------------------------------------------------------------------


def load_yaml(path: str | os.PathLike[str], *, secret: bool = False) -> Any:
    """The YAML document in ``path`` (safe types only), refusing a repeated mapping key.

    PyYAML keeps the last of two equal keys silently; here the second one is a `DataError`
    naming the file, the key's field path and both lines. ``secret``: a syntax error names
    its kind and line only, never the text around it.
    """
    source = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise DataError("", f"cannot be read: {error.strerror}").with_source(source) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_repeated_keys(node, "")
        return loader.construct_document(node)
    except DataError as error:
        raise error.with_source(source) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        detail = f"{type(error).__name__}{line}" if secret else str(error)
        problem = f"is not valid YAML ({detail})" if secret else f"is not valid YAML: {detail}"
        raise DataError("", problem).with_source(source) from None
    finally:
        loader.dispose()


def _refuse_repeated_keys(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_repeated_keys(item, f"{path}[{index}]")
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            where = f"{path}.{name}" if path else name
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first_line:
                    first = first_line[key.tag, key.value]
                    raise DataError(
                        where, f"is a duplicate key (line {line}; first at line {first})"
                    )
                first_line[key.tag, key.value] = line
            _refuse_repeated_keys(value, where)


def unknown_keys_first(model: type[Schema], data: Any) -> Any:
    """For a model's ``mode="before"`` validator: refuse a key the model does not have.

    A misspelled key is both unknown and, where required, a missing one; pydantic names the
    missing one first, this names the typo with the nearest valid key.
    """
    if isinstance(data, Mapping):
        choices = list(model.model_fields)
        for key in data:
            if key not in model.model_fields:
                raise FieldProblem(
                    str(key),
                    f"unknown key{closest(str(key), choices)}; valid keys: {', '.join(choices)}",
                )
    return data
