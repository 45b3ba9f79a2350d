"""Param: one declared constant of a sampler or a model (default, meaning, what is allowed).

Each sampler class (samplers/) and model class (models/) lists its constants once, as
`params = {"name": Param(default, "one-line meaning", ...)}`. The configuration schema of
every task (utils/engine/config.py), its validation, the generated reference
(config/reference.md) and the defaults of `samplers.make_sampler` are all built from these
declarations, so adding a constant is one line. The task keys (DATASET_CONFIGS,
TRAIN_CONFIGS, ...) are declared the same way, in utils/engine/task_keys.py.

Imports nothing of the project but utils/errors.py, so that models/ and samplers/ may use it.
"""
import copy
import difflib
import keyword
from dataclasses import dataclass
from typing import Any, Callable, Optional

from utils.errors import UserError


def _number(text: str):
    text = text.strip()
    if text in ("inf", "+inf"):
        return None
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


@dataclass(frozen=True)
class Param:
    """A constant: its default, a one-line meaning, and what values are allowed.

    interval: a range written as in mathematics, e.g. "(0, 1]", "[1, inf)", "[0, 1)".
    choices: the only allowed values (a tuple). check: any further rule, a function
    value -> problem text ("must be ...") or None, described by `rule` ("a list of steps >= 0").
    nullable: null (None) is allowed (always so when the default is None). kind: the value's
    type when it is not the default's (a default of None; `object` for a value of several
    types, left to `check`).
    """
    default: Any
    meaning: str
    interval: Optional[str] = None
    choices: Optional[tuple] = None
    check: Optional[Callable] = None
    rule: Optional[str] = None
    nullable: bool = False
    kind: Optional[type] = None

    def __post_init__(self):
        if self.interval is not None:
            self.bounds()  # fails at import for a badly written interval
        if self.default is not None and self.problem(self.default):
            raise ValueError(f"default {self.default!r} breaks its own rule: {self.problem(self.default)}")

    # -- what is allowed ----------------------------------------------------------------
    def bounds(self):
        """(low, high, low_inclusive, high_inclusive) of `interval`; None = unbounded."""
        text = self.interval.strip()
        if text[0] not in "[(" or text[-1] not in "])" or text.count(",") != 1:
            raise ValueError(f"interval {self.interval!r}: write it like '(0, 1]' or '[1, inf)'")
        low, high = text[1:-1].split(",")
        low = None if low.strip() in ("-inf", "") else _number(low)
        return low, _number(high), text[0] == "[", text[-1] == "]"

    @property
    def value_type(self):
        """bool, int, float, str or list: what a value must be (`kind` when given, else the default's)."""
        if self.kind is not None:
            return self.kind
        return type(self.default) if self.default is not None else None

    @property
    def numeric(self) -> bool:
        t = self.value_type
        return self.interval is not None or (t in (int, float))

    @property
    def may_be_null(self) -> bool:
        return self.nullable or self.default is None

    def allowed(self) -> str:
        """What is allowed, in words, for the reference and error messages."""
        if self.rule is not None:
            return self.rule
        if self.choices is not None:
            return " | ".join(str(c) for c in self.choices)
        if self.interval is not None:
            return self.interval + (" or null" if self.may_be_null else "")
        return "null or a number" if self.may_be_null and self.numeric else ""

    def problem(self, value) -> Optional[str]:
        """None when `value` is allowed, else the rest of an error message after 'KEY=VALUE '."""
        if value is None:
            return None if self.may_be_null else f"must not be null; the default is {self.default!r}"
        if self.choices is not None:
            if value not in self.choices or isinstance(value, bool) != any(isinstance(c, bool) for c in self.choices):
                return "is not valid; valid: " + ", ".join(str(c) for c in self.choices)
        if self.numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return "expected a number"
        t = self.value_type
        like = f" like the default {self.default!r}" if self.default is not None else ""
        if t is int and isinstance(value, float) and not value.is_integer():
            return f"expected an int{like}"
        if t is str and not isinstance(value, str):
            return f"expected a str{like}"
        if t is list and not isinstance(value, list):
            return f"expected a list{like}"
        if self.interval is not None:
            low, high, low_inc, high_inc = self.bounds()
            bad = value != value or value in (float("inf"), float("-inf")) or (  # NaN and inf never pass
                low is not None and (value < low or (value == low and not low_inc))) or (
                high is not None and (value > high or (value == high and not high_inc)))
            if bad:
                return f"is out of range; allowed: {self.interval}"
        if self.check is not None:
            text = self.check(value)
            if text:
                return ": " + text
        return None

    def coerce(self, value):
        """The value in the default's type (an int given as 100.0 -> 100; 1 -> 1.0 for a float)."""
        t = self.value_type
        if value is None or isinstance(value, bool):
            return value
        if t is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if t is float and isinstance(value, int):
            return float(value)
        return value


def python_name(key: str) -> str:
    """The keyword-argument name of a constant: a Python keyword gets a trailing '_' (lambda -> lambda_)."""
    return key + "_" if keyword.iskeyword(key) else key


def unknown_constant(owner: str, name: str, names: list) -> TypeError:
    """The error for a keyword argument that is none of `owner`'s constants `names`."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TypeError(f"{owner} has no constant {name!r}{hint}; its constants: {', '.join(names) or 'none'}")


def resolve(params: dict, given: dict, owner: str, section: str = None) -> dict:
    """{key: value} for every declared constant: `given` (keyword arguments) over the defaults.

    A key may be given as its Python name (`lambda_` for `lambda`). An unknown key is a
    TypeError naming the constants there are; a value that breaks its rule is a UserError
    naming `section.key` (or `owner.key`).
    """
    by_name = {python_name(k): k for k in params}
    values = {k: copy.deepcopy(p.default) for k, p in params.items()}
    for name, value in given.items():
        key = name if name in params else by_name.get(name)
        if key is None:
            raise unknown_constant(owner, name, list(by_name))
        param = params[key]
        problem = param.problem(value)
        if problem:
            raise UserError(f"{section or owner}.{key}={value!r} {problem}")
        values[key] = param.coerce(value)
    return values
