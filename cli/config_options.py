"""`kgan train`'s hyperparameter options, made from the declarations in `kgan.config`.

A hyperparameter is written once — a `TrainConfig` field with its help, bounds and
per-variant defaults — and becomes an option here: `lr_g` → `--lr-g FLOAT`, choices as
a list, the effective default shown (`[default: 128]`, or `[dcgan: batch · wgangp:
instance]` where the variants differ). Every option defaults to None, "not given", so
that the precedence of `TrainConfig.resolve` can apply.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape

from kgan import config as kconfig

PANEL = "Hyperparameters (each also a key of --config files)"
TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def choices(name: str, values: tuple) -> type[Enum]:
    """A str Enum of allowed values, so Typer validates and lists them."""
    return Enum(name, {str(value): str(value) for value in values}, type=str)


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def shown_default(field: dataclasses.Field) -> str:
    defaults = kconfig.variant_defaults(field.name)
    if field.name == "variant":
        return "dcgan"
    if len({repr(value) for value in defaults.values()}) == 1:
        shown = _plain(next(iter(defaults.values())))
    else:
        shown = " · ".join(f"{variant}: {_plain(value)}" for variant, value in defaults.items())
    if field.name in kconfig.CONDITIONAL_DEFAULTS:
        other, value = kconfig.CONDITIONAL_DEFAULTS[field.name]
        shown += f"; with {option_name(other)}: {_plain(value)}"
    return shown


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if value == "" else str(value)


def _annotation(field: dataclasses.Field) -> Any:
    """The Typer annotation of one hyperparameter's option."""
    meta, kind = field.metadata, TYPES[field.type] if isinstance(field.type, str) else field.type
    if meta.get("choices") and kind is str:
        kind = choices(field.name.title().replace("_", ""), meta["choices"])
    bounds = {}
    if kind in (int, float):
        low = meta.get("min") if meta.get("min") is not None else meta.get("above")
        if low is not None:
            bounds["min"] = low
    help_text = escape(meta["help"])
    if meta.get("choices") and kind is int:
        help_text = f"{help_text.rstrip('.')}; one of {', '.join(map(str, meta['choices']))}."
    help_text = f"{help_text} {escape(f'[default: {shown_default(field)}]')}"
    option = typer.Option(option_name(field.name), help=help_text, show_default=False, rich_help_panel=PANEL, **bounds)
    return Annotated[kind | None, option]


def with_hyperparameters(command: Callable[..., None]) -> Callable[..., None]:
    """`command(..., hyperparameters={name: value or None})` as a Typer command with one
    option per TrainConfig field after its own options."""
    own = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    parameters = [
        parameter.replace(annotation=hints[name])
        for name, parameter in own.parameters.items()
        if name != "hyperparameters"
    ]
    names = [field.name for field in kconfig.fields()]
    parameters += [
        inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=_annotation(field))
        for field in kconfig.fields()
    ]

    @functools.wraps(command)
    def wrapper(**values: Any) -> None:
        given = {name: values.pop(name) for name in names}
        given = {name: value.value if isinstance(value, Enum) else value for name, value in given.items()}
        return command(**values, hyperparameters=given)

    wrapper.__signature__ = inspect.Signature(parameters)
    wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    del wrapper.__wrapped__  # Typer must see the new signature, not the wrapped one
    return wrapper
