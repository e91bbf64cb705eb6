"""Command-line options generated from config dataclass fields, so that every setting is declared once.

Each field of a config dataclass (declared with ``amc.config.setting``: default, help, choices) becomes
``--field-name`` (plus any short ``flags``), with its help and default shown by ``--help``. Options
default to None, meaning "not given": only what the user typed overrides the preset / config file.
``with_config_options`` grafts the generated options onto a Typer command and hands the typed, explicit
values to it as ``settings``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from amc.cli import parse

Defaults = Callable[[str], str | None]  # field name -> shown default (None: the dataclass default)


def one_of(values: Any) -> Any:
    """A Literal type of the allowed values: Typer offers them as choices and names them in errors."""
    return Literal[tuple(values)]  # type: ignore[valid-type]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def show(value: Any) -> str:
    """A field value as the user would type it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return "inf" if math.isinf(value) and value > 0 else f"{value:g}"
    if isinstance(value, tuple):
        return ":".join(show(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={show(tuple(v))}" for k, v in value.items())
    if isinstance(value, list):
        steps = {round(b - a, 9) for a, b in zip(value, value[1:])}
        if len(value) > 3 and len(steps) == 1 and all(isinstance(v, float) for v in value) and steps.pop() > 0:
            return f"{show(value[0])}:{show(value[-1])}:{show(round(value[1] - value[0], 9))}"
        return ",".join(show(v) for v in value) if value else "none"
    return str(value)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _converter(f: dataclasses.Field, kind: str, name: str) -> Callable[[Any], Any] | None:
    """How the option's raw value becomes the field's value (None: Typer's own type is right)."""
    base = kind.replace(" | None", "")
    optional = kind != base
    if base.startswith("tuple[float"):
        return lambda v: parse.span(v, name)
    if base == "Range":  # lo:hi, or one number for a fixed value
        return lambda v: parse.span(v, name) if ":" in v else parse.optional(v, float, name)
    if base.startswith("dict[str, tuple"):
        return lambda v: parse.bands(v, name)
    if base == "list[float]":
        return lambda v: parse.grid(v, name)
    if base == "list[str]":
        return lambda v: None if v.strip().lower() in ("all", "none") else parse.names(v, name)
    if optional and base in ("int", "float", "str"):
        conv = {"int": int, "float": float, "str": str}[base]
        return lambda v: parse.optional(v, conv, name)
    return None


def metavar(kind: str) -> str:
    """How --help names the value of an option parsed from text: what to type, not `<str>`."""
    base = kind.replace(" | None", "")
    if base.startswith("tuple[float") or base == "Range":
        return "<lo:hi>" if base != "Range" else "<lo:hi|x>"
    if base.startswith("dict[str, tuple"):
        return "<name=lo:hi,...>"
    if base == "list[float]":
        return "<start:stop:step|list>"
    if base == "list[str]":
        return "<name,...>"
    return f"<{base}|none>" if base != kind else f"<{base}>"


def field_parameters(cls: type, defaults: Defaults | None = None, skip: tuple[str, ...] = ()
                     ) -> tuple[list[inspect.Parameter], dict[str, Callable[[Any], Any] | None]]:
    """Keyword-only Typer parameters for the CLI fields of a config dataclass, and their converters."""
    params, converters = [], {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True) or f.name in skip:
            continue
        kind, name = str(f.type), flag(f.name)
        shown = meta.get("shown") or (defaults(f.name) if defaults else None) or show(_default(f))
        help_text = meta.get("help", "")  # None is allowed where the metavar says `|none`
        bounds = meta.get("bounds")
        help_text += f"  [default: {shown}" + (f"; {bounds}]" if bounds else "]")
        conv = _converter(f, kind, name)
        choices = meta.get("choices") or ()
        if kind == "bool":
            decl = meta.get("flags") or (f"{name}/--no-{name[2:]}",)  # a bool's flags replace the pair
            info = typer.Option(*decl, help=help_text, show_default=False)
            annotation: Any = Annotated[bool | None, info]
        elif conv is None and kind in ("int", "float", "str"):
            info = typer.Option(name, *meta.get("flags", ()), help=help_text, show_default=False)
            base = one_of(choices) if choices else {"int": int, "float": float, "str": str}[kind]
            annotation = Annotated[base | None, info]
        else:
            info = typer.Option(name, *meta.get("flags", ()), help=help_text, show_default=False,
                                metavar=metavar(kind))
            annotation = Annotated[str | None, info]
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=annotation))
        converters[f.name] = conv
    return params, converters


def with_config_options(*classes: type, defaults: Defaults | None = None, skip: tuple[str, ...] = ()
                        ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add one option per CLI field of `classes` to a command whose last parameter is ``settings: dict``.

    The command receives ``settings`` = {field: typed value} for the options the user actually gave.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "settings"]
        generated, converters = [], {}
        for cls in classes:
            params, convs = field_parameters(cls, defaults, skip)
            generated += params
            converters.update(convs)

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            settings = {}
            for name, conv in converters.items():
                value = kwargs.pop(name, None)
                if value is not None:
                    settings[name] = conv(value) if conv else value
            return fn(*args, settings=settings, **kwargs)

        command.__signature__ = inspect.Signature(own + generated)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in own + generated}
        return command

    return decorate
