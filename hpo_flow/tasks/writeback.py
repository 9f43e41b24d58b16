"""Write a sweep's winning values back into config.yaml, and change nothing else.

A YAML library that loads and dumps a document re-indents it, rewrites `null` as an empty
value and moves end-of-line comments (ruamel.yaml's round trip does all three to our demo
config). So we use ruamel.yaml's parser only to find where each value's token lies, replace
exactly those characters, and leave every other byte alone: comments, key order, quoting,
alignment, flow-style maps. The result is then read back the way `load_config` reads it and
must equal the old config with the winners in place, or nothing is written.

Floats are written with 6 significant digits (`float(f"{v:.6g}")`): a sampler's
0.0023456789012345 becomes 0.00234568, a relative change below 5e-7 that no hyperparameter is
sensitive to, while any value that already has 6 or fewer digits (grid points, q-steps, the
values people type) is written exactly as the trial used it. The exact value stays in the
trial's MLflow run. Integers stay integers; categorical values are written as the range lists
them, so a string stays a string, an int an int, a bool a bool.

The write is atomic and crash-safe: under `<config>.lock`, the new text goes to a temp file in
the same directory, is flushed and fsynced, renamed over the config (os.replace), and the
directory is fsynced; the previous text is kept in `<config>.bak` the same way. A kill -9 at
any moment leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
import numbers
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hpo_flow.adapters.errors import HpoFlowError
from hpo_flow.adapters.redact import MASK, is_secret_key, redact_text
from hpo_flow.adapters.spec import ParamRange, RangeType, parse_config

log = logging.getLogger(__name__)

SIGNIFICANT_DIGITS = 6
_TEMP_SUFFIX = ".hpo-tmp"


@dataclass(frozen=True)
class WriteBack:
    """What write-back did, and why not where it did not: the user's file is the user's."""

    diff: str = ""  # the unified diff written (or that would be), secret-looking values masked
    written: bool = False
    kept: tuple[str, ...] = ()  # tuned keys changed in the file since the sweep started: left as the user set them
    note: str | None = None  # in one line: what was left alone and why; None when the winners went in as they are


def tuned_values(config_path: str | Path) -> dict[str, Any]:
    """`training.hyperparameters` of the file as it is now, read as `load_config` reads it: what a
    sweep starts from, for write-back to tell the user's edits during the sweep from its own."""
    from hpo_flow.adapters.spec import load_yaml

    try:
        return _hyperparameters_of(load_yaml(Path(config_path).read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}


def _body(data: Any) -> Any:
    """The config's own mapping: seed 000's layout wraps the whole config in `tuning_config:`."""
    return data["tuning_config"] if isinstance(data, dict) and set(data) == {"tuning_config"} else data


def _hyperparameters_of(data: Any) -> dict[str, Any]:
    body = _body(data)
    training = body.get("training") if isinstance(body, dict) else None
    hyper = training.get("hyperparameters") if isinstance(training, dict) else None
    return dict(hyper) if isinstance(hyper, dict) else {}


_ABSENT = object()


def write_back(
    config_path: str | Path, winners: dict[str, Any], dry_run: bool = False, started_from: dict[str, Any] | None = None
) -> str:
    """`write_back_checked`'s diff: "" when nothing changes (or nothing could be written)."""
    return write_back_checked(config_path, winners, dry_run, started_from).diff


def write_back_checked(
    config_path: str | Path, winners: dict[str, Any], dry_run: bool = False, started_from: dict[str, Any] | None = None
) -> WriteBack:
    """Put the winners of the tuned keys into `training.hyperparameters`, taking the user's side.

    Keys that are not tuned are ignored; a tuned key missing from `training.hyperparameters`
    is added at the end of that mapping. The diff is "" when nothing changes (so a second call with
    the same winners writes nothing). `dry_run` returns the diff and writes nothing. The diff
    has secret-looking values masked, ready to log.

    With `started_from` (`tuned_values` of the file when the sweep started), a tuned value the user
    changed in the file since then is theirs: it is left as it is and named in the note. A
    read-only file is not rewritten (the diff says what would have been), and a file that is gone
    or no longer a valid config is left alone: the winners are in MLflow either way.
    """
    path = Path(config_path).resolve()  # a symlinked config: write the real file, lock beside it
    shown = Path(config_path).name
    if not path.is_file():
        return WriteBack(note=f"{shown} is gone (removed during the sweep): nothing written back")
    read_only = not dry_run and not path.stat().st_mode & 0o222
    with FileLock(f"{path}.lock"):
        if not (dry_run or read_only):
            _remove_stale_temps(path)
        try:
            old_bytes = path.read_bytes()
            old = old_bytes.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return WriteBack(note=f"{shown} cannot be read now ({exc.__class__.__name__}): nothing written back")
        now = _hyperparameters_of(_safe_load(old))
        kept = tuple(
            sorted(
                k for k in winners if started_from is not None and now.get(k, _ABSENT) != started_from.get(k, _ABSENT)
            )
        )
        try:
            new = apply_winners(old, {k: v for k, v in winners.items() if k not in kept}, source=str(path))
        except HpoFlowError as exc:  # the user's file is no longer a valid config: theirs to fix, not ours
            return WriteBack(note=f"{shown} no longer validates, so nothing was written back: {exc}")
        diff = redact_config_text(unified_diff(old, new, path.name)) if new != old else ""
        notes = []
        if kept:
            notes.append(f"kept your value of {', '.join(kept)} (changed in {shown} during the sweep)")
        if read_only and diff:
            notes.append(f"{shown} is read-only, so it was not changed")
        if new != old and not (dry_run or read_only):
            mode = path.stat().st_mode & 0o7777
            _atomic_write(path.with_name(path.name + ".bak"), old_bytes, mode)
            _atomic_write(path, new.encode("utf-8"), mode)
            return WriteBack(diff=diff, written=True, kept=kept, note="; ".join(notes) or None)
    return WriteBack(diff=diff, kept=kept, note="; ".join(notes) or None)


def _safe_load(text: str) -> Any:
    from hpo_flow.adapters.spec import load_yaml

    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return None


def apply_winners(text: str, winners: dict[str, Any], source: str = "config.yaml") -> str:
    """The config text with the winners' tokens replaced (or added); everything else as it was."""
    data = yaml.safe_load(text)
    config = parse_config(data)  # the file must be a valid config before we touch it
    ranges = config.tuning.hyperparameter_ranges
    current = config.training.hyperparameters
    ignored = sorted(set(winners) - set(ranges))
    if ignored:
        log.info("write-back ignores %s: not tuned in %s", ignored, source)
    values = {k: typed_value(v, ranges[k], current.get(k)) for k, v in winners.items() if k in ranges}

    root = _mapping_root(_compose(text))
    training = _child(root, "training")
    if training is None:
        raise HpoFlowError(f"{source}: no training mapping to write the winners into")
    newline = "\r\n" if "\r\n" in text else "\n"
    edits: list[tuple[int, int, str]] = []
    hyper = _child(training, "hyperparameters")
    if hyper is None or str(getattr(hyper.tag, "value", hyper.tag)).endswith(":null"):
        changed = {k: v for k, v in values.items() if k not in current or not _same(current[k], v)}
        if changed:
            body = "{" + ", ".join(f"{_key(k)}: {render(v, flow=True)}" for k, v in changed.items()) + "}"
            if hyper is None:
                at, indent = _after_last_entry(text, training)
                edits.append((at, at, " " * indent + f"hyperparameters: {body}{newline}"))
            else:
                gap = "" if hyper.start_mark.index > 0 and text[hyper.start_mark.index - 1] == " " else " "
                edits.append((hyper.start_mark.index, hyper.end_mark.index, gap + body))
    elif hasattr(hyper, "flow_style"):
        edits.extend(_hyperparameter_edits(text, hyper, values, current, newline, source))
    else:
        raise HpoFlowError(f"{source}: training.hyperparameters is not a mapping")

    new = text
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        new = new[:start] + replacement + new[end:]
    _verify(new, data, values, source)
    return new


def typed_value(value: Any, spec: ParamRange, current: Any = None) -> Any:
    """The winner as it should be written: the range's own type, floats rounded sensibly."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy and friends: write what YAML knows
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = float(value)
    if spec.type == RangeType.categorical:
        choices = spec.values or []
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return choice
        for choice in choices:  # a service that reports values as strings ("32", "True")
            if _same_text(choice, value):
                return choice
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if spec.type == RangeType.integer or (
        spec.is_integral and (current is None or (isinstance(current, int) and not isinstance(current, bool)))
    ):
        return round(value)
    if not math.isfinite(value):
        return float(value)
    return float(f"{float(value):.{SIGNIFICANT_DIGITS}g}")


def render(value: Any, style: str | None = None, flow: bool = False) -> str:
    """The YAML token for a scalar, read back by PyYAML (YAML 1.1, what load_config uses) as the same
    value and type. A string keeps the quote style of the token it replaces."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    text = str(value)
    if style == "'":
        return "'" + text.replace("'", "''") + "'"
    if style != '"' and _plain_ok(text, flow):
        return text
    return _double_quoted(text)


def format_float(value: float) -> str:
    """A float token PyYAML reads as a float: `1e-06` is a string to YAML 1.1, `1.0e-06` is not."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        power = int(exponent)
        return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    return text if "." in text else text + ".0"


def unified_diff(old: str, new: str, name: str) -> str:
    def lines(text: str) -> list[str]:
        out = text.splitlines(keepends=True)
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
        return out

    return "".join(difflib.unified_diff(lines(old), lines(new), fromfile=f"a/{name}", tofile=f"b/{name}"))


_KEY_VALUE = re.compile(r"(?P<key>[\"']?[A-Za-z_][\w.\-]*[\"']?)(?P<sep>\s*:[ \t]+)(?P<value>[^,}\n#]*[^,}\s#])")


def redact_config_text(text: str) -> str:
    """Mask the values of secret-looking keys (`password: x`, `API_TOKEN: y`) and URL passwords
    in YAML text or a diff of it, line by line, keeping everything else readable."""

    def mask(match: re.Match[str]) -> str:
        if is_secret_key(match["key"].strip("\"'")):
            return f"{match['key']}{match['sep']}{MASK}"
        return match.group(0)

    return _KEY_VALUE.sub(mask, redact_text(text))


# --------------------------------------------------------------------------- locating tokens


def _compose(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="rt").compose(text)


def _mapping_root(root: Any) -> Any:
    pairs = getattr(root, "value", None)
    if isinstance(pairs, list) and len(pairs) == 1 and pairs[0][0].value == "tuning_config":
        return pairs[0][1]  # seed 000's layout wraps the whole config in `tuning_config:`
    return root


def _child(mapping: Any, key: str) -> Any:
    for key_node, value_node in getattr(mapping, "value", []) or []:
        if getattr(key_node, "value", None) == key:
            return value_node
    return None


def _hyperparameter_edits(
    text: str, mapping: Any, values: dict[str, Any], current: dict[str, Any], newline: str, source: str
) -> list[tuple[int, int, str]]:
    edits: list[tuple[int, int, str]] = []
    added: list[str] = []
    flow = bool(mapping.flow_style)
    for name, value in values.items():
        node = _child(mapping, name)
        if node is None:
            added.append(f"{_key(name)}: {render(value, flow=flow)}")
            continue
        if not isinstance(node.value, str):
            raise HpoFlowError(f"{source}: training.hyperparameters.{name} is not a single value; cannot replace it")
        if name in current and _same(current[name], value):
            continue  # same value and type: keep the token exactly as written
        edits.append((node.start_mark.index, node.end_mark.index, render(value, node.style, flow)))
    if not added:
        return edits
    if flow:
        if mapping.value:
            at = mapping.value[-1][1].end_mark.index
            edits.append((at, at, "".join(f", {entry}" for entry in added)))
        else:
            at = mapping.start_mark.index + 1  # just inside `{`
            edits.append((at, at, ", ".join(added)))
    else:
        at, indent = _after_last_entry(text, mapping)
        prefix = "" if at == 0 or text[at - 1] == "\n" else newline
        edits.append((at, at, prefix + "".join(" " * indent + entry + newline for entry in added)))
    return edits


def _after_last_entry(text: str, mapping: Any) -> tuple[int, int]:
    """Where a new entry of a block mapping goes (the start of the line after its last entry), and
    its indentation (that of the mapping's keys)."""
    first_key, _ = mapping.value[0]
    last_value = mapping.value[-1][1]
    end = last_value.end_mark
    if end.column == 0:  # a block scalar or nested block ends at the start of the next line
        return end.index, first_key.start_mark.column
    line_end = text.find("\n", end.index)
    return (len(text) if line_end < 0 else line_end + 1), first_key.start_mark.column


def _verify(new: str, old_data: Any, values: dict[str, Any], source: str) -> None:
    """The new text must read back as the old config with the winners in place, and nothing else."""
    from hpo_flow.adapters.errors import ConfigError

    expected = copy.deepcopy(old_data)
    body = _body(expected)
    hyper = body["training"].get("hyperparameters") or {}
    hyper.update(values)
    body["training"]["hyperparameters"] = hyper
    try:
        got = yaml.safe_load(new)
        parse_config(got)
    except (yaml.YAMLError, ConfigError) as exc:
        raise HpoFlowError(f"{source}: write-back produced an invalid config ({exc}); file left unchanged") from exc
    got_body = _body(got)
    got_hyper = got_body["training"]["hyperparameters"]
    if got != expected or any(type(got_hyper[k]) is not type(v) for k, v in values.items()):
        raise HpoFlowError(f"{source}: write-back would change more than the winners; file left unchanged")


# --------------------------------------------------------------------------- tokens


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))


def _same_text(choice: Any, value: Any) -> bool:
    if isinstance(choice, bool) or isinstance(value, bool):
        return str(choice).lower() == str(value).lower()
    if isinstance(choice, int | float) and isinstance(value, str):
        try:
            return float(value) == choice
        except ValueError:
            return False
    return str(choice) == str(value)


def _plain_ok(text: str, flow: bool) -> bool:
    """True when `text` written bare reads back as the same string, in block and flow context."""
    if not text or text != text.strip() or "\n" in text or "#" in text or (flow and any(c in text for c in ",[]{}")):
        return False
    try:
        return yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        return False


def _double_quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _key(name: str) -> str:
    try:
        plain = yaml.safe_load(f"{name}: 0") == {name: 0}
    except yaml.YAMLError:
        plain = False
    return name if plain else _double_quoted(name)


# --------------------------------------------------------------------------- atomic files


def _atomic_write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable: it lives in the directory's entry table."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # platforms that cannot open a directory (Windows) have no such step
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Temp files left by a writer that was killed; only lock holders create them, so any found
    while we hold the lock are orphans."""
    for stale in path.parent.glob(f".{path.name}.*{_TEMP_SUFFIX}"):  # also the backup's: .NAME.bak.*
        stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------- Prefect task


@task(name="write-back-winners", cache_policy=NO_CACHE)  # no retries: a repeat after success shows an empty diff
def write_back_task(
    config_path: str | Path, winners: dict[str, Any], dry_run: bool = False, started_from: dict[str, Any] | None = None
) -> WriteBack:
    done = write_back_checked(config_path, winners, dry_run, started_from)
    logger = get_run_logger()
    what = "changed" if done.written else "would change"
    logger.info("config write-back %s:\n%s", what, done.diff or "(nothing: the values are already there)")
    if done.note:
        logger.warning("config write-back: %s", done.note)
    return done
