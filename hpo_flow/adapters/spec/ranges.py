"""Hyperparameter ranges: every vocabulary (SageMaker, Azure ML, OpenVINO) mapped onto one
`ParamRange` whose bounds are in the parameter's own units."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from pydantic import (
    Field,
    model_validator,
)

from hpo_flow.adapters.spec.base import Scalar, ScalarValue, Strict, SubProblems, _close, _missing
from hpo_flow.adapters.spec.messages import _unknown_key_message


class RangeType(StrEnum):
    """Canonical range types; every vocabulary is mapped onto these."""

    continuous = "continuous"
    integer = "integer"
    categorical = "categorical"
    normal = "normal"
    lognormal = "lognormal"


class Scaling(StrEnum):
    Auto = "Auto"
    Linear = "Linear"
    Logarithmic = "Logarithmic"
    ReverseLogarithmic = "ReverseLogarithmic"


# Azure ML / OpenVINO names -> (canonical type, scaling, whether the name implies a step)
_VOCABULARY: dict[str, tuple[RangeType, Scaling | None, bool]] = {
    "continuous": (RangeType.continuous, None, False),
    "integer": (RangeType.integer, None, False),
    "categorical": (RangeType.categorical, None, False),
    "choice": (RangeType.categorical, None, False),
    "randint": (RangeType.integer, Scaling.Linear, False),
    "uniform": (RangeType.continuous, Scaling.Linear, False),
    "quniform": (RangeType.continuous, Scaling.Linear, True),
    "loguniform": (RangeType.continuous, Scaling.Logarithmic, False),
    "qloguniform": (RangeType.continuous, Scaling.Logarithmic, True),
    "normal": (RangeType.normal, None, False),
    "qnormal": (RangeType.normal, None, True),
    "lognormal": (RangeType.lognormal, None, False),
    "qlognormal": (RangeType.lognormal, None, True),
}
RANGE_TYPE_NAMES = tuple(_VOCABULARY)


class ParamRange(Strict):
    """One hyperparameter's search range, in the parameter's own units.

    `written_as` keeps the vocabulary the user wrote (e.g. `qloguniform`) so that adapters can
    map back to the exact native construct and messages can quote the user's own words.
    """

    type: RangeType
    written_as: str = ""
    scaling_type: Scaling = Scaling.Auto
    min: float | None = None
    max: float | None = None
    step: float | None = Field(default=None, alias="step")
    log_base: float | None = None
    mu: float | None = None
    sigma: float | None = None
    values: list[ScalarValue] | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise_vocabulary(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        written = data.get("type")
        if isinstance(written, str) and written.strip().lower() in _VOCABULARY:
            name = written.strip().lower()
            canonical, scaling, _ = _VOCABULARY[name]
            data["type"] = canonical.value
            data.setdefault("written_as", name)
            if scaling is not None and "scaling_type" not in data:
                data["scaling_type"] = scaling.value
        elif "type" in data and written is not None:
            # Unknown type: no other check can mean anything yet, but unknown keys can still be named.
            close = _close(written, list(RANGE_TYPE_NAMES)) if isinstance(written, str) else None
            hint = f"; did you mean '{close}'?" if close else ""
            found = [("type", written, f"unknown range type; use one of {', '.join(RANGE_TYPE_NAMES)}{hint}")]
            known = set(cls.model_fields) | {"q"}
            for key in data:
                if key not in known:
                    found.append((str(key), data[key], _unknown_key_message(cls, [str(key)])))
            raise SubProblems(found)
        if "q" in data:
            if "step" in data:
                raise SubProblems([("q", data["q"], "q and step are the same thing; give only one of them")])
            data["step"] = data.pop("q")
        if isinstance(data.get("scaling_type"), str):
            by_lower = {s.value.lower(): s.value for s in Scaling}
            data["scaling_type"] = by_lower.get(data["scaling_type"].strip().lower(), data["scaling_type"])
        return data

    @model_validator(mode="after")
    def _coherent(self) -> ParamRange:
        problems: list[tuple[str, Any, str]] = []
        add = problems.append
        t = self.type
        kind = self.written_as or t.value
        log = self.scaling_type == Scaling.Logarithmic
        vocabulary = _VOCABULARY.get(self.written_as)
        if self.written_as and (vocabulary is None or vocabulary[0] != t):
            add(("written_as", self.written_as, f"does not match type {t.value}; remove written_as (hpo-flow sets it)"))
        elif vocabulary is not None:
            implied = vocabulary[1]
            if implied is not None and self.scaling_type not in (implied, Scaling.Auto):
                add(
                    (
                        "scaling_type",
                        self.scaling_type.value,
                        f"{kind} is already {implied.value}; remove scaling_type, or pick the type that matches",
                    )
                )
            if vocabulary[2] and self.step is None:
                add(("step", _missing(), f"{kind} needs a step (its q), e.g. step: 0.001; or use the type without q"))
        if t in (RangeType.continuous, RangeType.integer):
            for key in ("min", "max"):
                if getattr(self, key) is None:
                    add((key, _missing(), f"a {kind} range needs min and max; add {key}:"))
            for key in ("values", "mu", "sigma"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; remove it"))
            if self.min is not None and self.max is not None:
                self._check_bounds(self.min, self.max, add)
        elif t == RangeType.categorical:
            if not self.values:
                add(("values", self.values, "a categorical range needs a non-empty list of values, e.g. [16, 32, 64]"))
            else:
                seen: dict[str, int] = {}
                for index, v in enumerate(self.values):
                    # Trials receive `--name value`, so values that print the same are the same choice.
                    text = str(v).lower() if isinstance(v, bool) else str(v)
                    if text in seen:
                        add(
                            (
                                f"values.{index}",
                                v,
                                f"duplicate categorical value (same as values.{seen[text]}); list each value once",
                            )
                        )
                    seen.setdefault(text, index)
            for key in ("min", "max", "step", "mu", "sigma", "log_base"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; remove it"))
        else:  # normal family: mu and sigma of the normal (of the log, for lognormal)
            if self.mu is None:
                add(("mu", _missing(), f"a {kind} range needs mu (the mean); add mu:"))
            if self.sigma is None:
                add(("sigma", _missing(), f"a {kind} range needs sigma (the standard deviation); add sigma:"))
            elif self.sigma <= 0:
                add(("sigma", self.sigma, "must be > 0; give the standard deviation as a positive number"))
            for key in ("min", "max", "values", "log_base"):
                if getattr(self, key) is not None:
                    add((key, getattr(self, key), f"not used by a {kind} range; use mu and sigma"))
            if self.step is not None and self.step <= 0:
                add(("step", self.step, "must be > 0; use a positive step such as 1, or remove it"))
        if t in (RangeType.categorical, RangeType.normal, RangeType.lognormal) and self.scaling_type != Scaling.Auto:
            add(("scaling_type", self.scaling_type.value, f"does not apply to a {kind} range; remove it"))
        if self.log_base is not None and t in (RangeType.continuous, RangeType.integer):
            if self.log_base <= 1:
                add(("log_base", self.log_base, "must be > 1; use 10, 2 or 2.718281828 (e)"))
            elif not log:
                add(("log_base", self.log_base, "only a logarithmic range has a log_base; remove it or use loguniform"))
        if problems:
            raise SubProblems(problems)
        return self

    def _check_bounds(self, low: float, high: float, add: Any) -> None:
        if low >= high:
            add(("min", low, f"must be less than max ({_num(high)}); lower min or raise max"))
            return
        if self.is_log and low <= 0:
            add(("min", low, "a logarithmic range needs min > 0; use a small positive bound such as 1e-6"))
        if self.scaling_type == Scaling.ReverseLogarithmic:
            if self.type == RangeType.integer:
                add(
                    (
                        "scaling_type",
                        "ReverseLogarithmic",
                        "only a continuous range can be ReverseLogarithmic; use Linear or Logarithmic",
                    )
                )
            elif low < 0:
                add(("min", low, "ReverseLogarithmic needs 0 <= min < max < 1; raise min to 0 or more"))
            elif high >= 1:
                add(("max", high, "ReverseLogarithmic needs 0 <= min < max < 1; lower max below 1 or use Logarithmic"))
        if self.type == RangeType.integer:
            for key, v in (("min", low), ("max", high)):
                if not float(v).is_integer():
                    whole = math.ceil(v) if key == "min" else math.floor(v)
                    add((key, v, f"an integer range needs whole-number bounds; use {whole}"))
        if self.step is not None:
            self._check_step(high - low, add)

    def _check_step(self, span: float, add: Any) -> None:
        if self.step is None:
            return
        if self.step <= 0:
            add(("step", self.step, "must be > 0; use a positive step such as 0.001, or remove it"))
        elif self.step > span:
            add(("step", self.step, f"larger than the range (max - min = {_num(span)}); use a step <= {_num(span)}"))
        elif self.type == RangeType.integer and not float(self.step).is_integer():
            add(("step", self.step, f"an integer range needs a whole-number step; use {max(1, round(self.step))}"))

    # ---- views adapters use

    @property
    def is_log(self) -> bool:
        return self.scaling_type == Scaling.Logarithmic

    @property
    def is_integral(self) -> bool:
        """True when every value the range can take is a whole number (integer, or q-steps on whole bounds)."""
        if self.type == RangeType.integer:
            return True
        if self.type == RangeType.continuous and self.step is not None:
            return all(float(v).is_integer() for v in (self.min, self.max, self.step) if v is not None)
        return False

    @property
    def is_finite(self) -> bool:
        """True when the range has a finite set of values (grid-searchable)."""
        return self.type in (RangeType.categorical, RangeType.integer) or (
            self.type == RangeType.continuous and self.step is not None
        )

    def describe(self) -> str:
        """The range in the vocabulary people read, wherever it is shown (validate, MLflow):
        `loguniform(0.0001, 0.05)`, `integer(1, 9, step=2)`, `choice('relu', 'tanh')`, ..."""
        q = f", q={_num(self.step)}" if self.step is not None else ""
        if self.type == RangeType.categorical:
            return "choice(" + ", ".join(repr(v) for v in self.values or []) + ")"
        if self.type in (RangeType.normal, RangeType.lognormal):
            name = ("q" if self.step is not None else "") + self.type.value
            return f"{name}({_num(self.mu)}, {_num(self.sigma)}{q})"
        bounds = f"{_num(self.min)}, {_num(self.max)}"
        if self.type == RangeType.integer:
            scale = ", log" if self.is_log else ""
            step = f", step={_num(self.step)}" if self.step is not None else ""
            return f"integer({bounds}{step}{scale})"  # bounds inclusive, as in the config
        prefix = "q" if self.step is not None else ""
        if self.scaling_type == Scaling.ReverseLogarithmic:
            return f"{prefix}reverse_loguniform({bounds}{q})"
        kind = "loguniform" if self.is_log else "uniform"
        base = f", base={_num(self.log_base)}" if self.log_base is not None else ""
        return f"{prefix}{kind}({bounds}{q}{base})"

    def grid_values(self) -> list[Scalar]:
        """Every value of a finite range, in order; raises ValueError for an infinite one."""
        if self.type == RangeType.categorical:
            return list(self.values or [])
        if not self.is_finite or self.min is None or self.max is None:
            raise ValueError("range is continuous without a step")
        step = self.step or 1
        count = math.floor((self.max - self.min) / step + 1e-9) + 1
        vals = [self.min + i * step for i in range(count)]
        if self.is_integral:
            return [round(v) for v in vals]
        return [round(v, 12) for v in vals]


def _num(value: float | None) -> str:
    # 12 significant digits: enough for any bound a user writes, without float noise like 0.09990000000000001.
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.12g}"
