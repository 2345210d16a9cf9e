"""Running experiments into a run folder: the one path behind ``main.py``
and :func:`main.run_experiment`.

:func:`build_configs` and :func:`build_launch` resolve what runs and how;
:func:`start` loads each experiment's input (missing input stops before any
folder exists), creates the folder, writes ``config.json`` and ``env.json``,
runs the experiments in the registry's order and writes the report;
:func:`resume` continues an interrupted folder; :func:`rebuild_report` and
:func:`compare` work from saved folders without training. Bad input raises
``ValueError`` in one line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import zipfile
from pathlib import Path

from experiments import LETTERS, registry
from utils import runs
from utils.config import apply_overrides, config_from_fields, split_override
from utils.executor import Launch
from utils.jobs import links_inside, lock_run_dir


# --------------------------------------------------------------------------
# what runs (configs) and how (launch)
# --------------------------------------------------------------------------

def split_overrides(items, letters: list[str]) -> dict[str, dict[str, str]]:
    """``--set`` items (``key=value`` strings or ``(key, value)`` pairs) ->
    experiment -> {field: text}; ``a.lr=...`` names one experiment, a bare
    key goes to every experiment of the run that has the field. One field
    set twice (``lr=`` and ``a.lr=``, in either order, even to one value) is
    refused: the later would win silently."""
    mods = registry()
    overrides: dict[str, dict[str, str]] = {k: {} for k in letters}
    first: dict[tuple[str, str], str] = {}  # (letter, field) -> the item that set it
    for item in items:
        key, value = split_override(item) if isinstance(item, str) else item
        prefix, _, rest = key.partition(".")
        if rest and prefix in mods:
            if prefix not in letters:
                raise ValueError(f"--set {key}={value}: experiment {prefix} is not part of this run")
            targets = [(prefix, rest)]
        else:
            targets = [(k, key) for k in letters
                       if key in {f.name for f in dataclasses.fields(mods[k].Config)}]
        if not targets:
            raise ValueError(f"--set {key}={value}: unknown config key {key!r} for experiment(s) "
                             f"{', '.join(letters)}")
        for k, field in targets:
            if (k, field) in first:
                raise ValueError(f"--set {first[k, field]} and --set {key}={value} both set "
                                 f"experiment {k}'s {field}; give it once")
            first[k, field] = f"{key}={value}"
            overrides[k][field] = value
    return overrides


def build_configs(letters: list[str], device: str, *, changes: dict[str, dict],
                  overrides: dict[str, dict[str, str]], quick: bool = False,
                  saved: dict | None = None, preset: str | None = None) -> dict:
    """Each experiment's config: its defaults (the device's preset) or the
    config a folder saved; ``preset`` a named preset (``--preset``) of the
    experiments that define one -> ``quick()`` -> ``changes`` (letter -> {field:
    value}; a field the config lacks is skipped) -> ``overrides`` (letter ->
    {field: text}, type-checked), validated."""
    mods = registry()
    cfgs = {}
    for k in letters:
        mod = mods[k]
        try:
            if saved and k in saved:  # --config: the folder's own resolved config is the base
                cfg = config_from_fields(mod.Config, saved[k])
            else:
                make = getattr(mod, "preset", None)
                cfg = make(mod.Config(), device, preset) if make else mod.Config()
            if quick:
                cfg = cfg.quick()
            names = {f.name for f in dataclasses.fields(cfg)}
            given = {f: v for f, v in changes.get(k, {}).items() if f in names}
            cfg = apply_overrides(dataclasses.replace(cfg, **given), overrides.get(k, {}))
            mod.validate(cfg)
        except (ValueError, TypeError) as e:
            raise ValueError(f"experiment {k}: {e}") from None
        cfgs[k] = cfg
    return cfgs


def load_saved_configs(path: str, flag: str = "--config") -> dict:
    """``experiments`` of a run folder's config.json (a folder is accepted too)."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        saved = json.loads(p.read_text())
        exps = saved["experiments"]
        if not isinstance(exps, dict) or not exps:
            raise ValueError("no experiments in it")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{flag} {path}: not a run folder's config.json ({e})") from None
    return exps


def saved_record(path) -> dict:
    """A run folder's config.json (or the file itself) as a dict; {} if unreadable."""
    p = Path(path)
    p = p / "config.json" if p.is_dir() else p
    try:
        record = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def saved_launch(path) -> dict | None:
    record = saved_record(path).get("launch")
    return record if isinstance(record, dict) else None


def build_launch(fields: dict, saved: dict | None = None, quick: bool = False,
                 resuming: bool = False) -> Launch:
    """How jobs run, from the given :class:`Launch` fields (None: not given),
    validated here, once. ``saved``: a folder's recorded launch, whose thread
    count is kept unless given (the bits depend on it; the rest is this
    machine's). ``quick``: one worker unless given (seconds of work);
    ``resuming``: a run that ran its jobs in its own process (``--quick``)
    continues that way unless workers are given."""
    changes = {k: v for k, v in fields.items() if v is not None}
    known = [f.name for f in dataclasses.fields(Launch)]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"jobs: unknown key {unknown[0]!r} (expected one of {', '.join(known)})")
    if "threads" not in changes and saved and isinstance(saved.get("threads"), int):
        changes["threads"] = saved["threads"]
    if "workers" not in changes and (quick or resuming and saved and saved.get("workers") == 1):
        changes["workers"] = 1
    launch = Launch(**changes)
    launch.validate()
    return launch


# --------------------------------------------------------------------------
# running: a new folder, or one resumed
# --------------------------------------------------------------------------

def take_folder(run_dir: Path, flag: str) -> None:
    """One folder, one writer (a lock held for the run's life), and writes
    stay inside it: a folder holding a link is refused before anything is
    written."""
    link = links_inside(run_dir)
    if link is not None:
        raise ValueError(f"{flag} {run_dir}: {link} is a link (to {os.readlink(link)}); a run "
                         f"writes only inside its folder: replace the link by the real file "
                         f"or folder")
    lock_run_dir(run_dir)


def check_devices(cfgs: dict) -> None:
    """A config's ``device`` (``--set a.device=cuda``) exists here, checked
    before any folder."""
    import torch
    for k, cfg in cfgs.items():
        device = str(getattr(cfg, "device", "cpu"))
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"experiment {k}: device: {device!r} asked for, but no CUDA device "
                             f"is available (use cpu or auto)")


def _damaged_file(folder: Path) -> Path | None:
    """The first saved array file or checkpoint under ``folder`` that does
    not read back whole (a finished part is verified before it is kept)."""
    import numpy as np
    import torch
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".npz", ".pt") or not path.is_file():
            continue
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as z:
                    for name in z.files:
                        z[name]
            else:
                torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - any failure to read back is damage
            return path
    return None


def _parts(run_dir: Path, letters, registry) -> dict[str, Path]:
    """Each experiment's folder: the run folder itself, or ``<NAME>/`` in an 'all' run."""
    return {k: run_dir if len(letters) == 1 else run_dir / registry[k].NAME for k in letters}


def _in_run(registry, cfgs: dict, parts: dict[str, Path]) -> dict:
    """Each config as it runs beside the run's other parts (an experiment
    that reads another's output says how, in its ``in_run``)."""
    return {k: getattr(registry[k], "in_run", lambda c, f: c)(c, parts) for k, c in cfgs.items()}


def start(experiment: str, letters, cfgs: dict, launch, out_root: Path, state, *, argv,
          device: str, quick: bool, user_data=None) -> int:
    """Load each experiment's input (missing input stops here, before any
    folder exists), create the run folder, run the experiments in order,
    write the report."""
    mods = registry()
    check_devices(cfgs)
    prepared = {k: getattr(mods[k], "prepare", lambda c, data=None, parts=(): None)(
        cfgs[k], data=user_data, parts=tuple(letters)) for k in letters}
    for k, ready in prepared.items():  # the model on the data, once, before any folder
        if ready is not None and hasattr(mods[k], "preflight"):
            mods[k].preflight(cfgs[k], ready)
    # what the data is (e.g. CIFAR-10 missing: a synthetic set) before the first experiment
    # trains, not when the one that uses it starts
    for note in dict.fromkeys(n for ready in prepared.values() for n in getattr(ready, "notes", ())):
        print(f"NOTE: {note}", flush=True)
    runs.check_writable(out_root)
    run_dir = runs.create_run_dir(out_root, experiment + ("_quick" if quick else ""))
    take_folder(run_dir, "--out")
    state["run_dir"] = run_dir
    print(f"run folder: {run_dir}", flush=True)
    sub_dirs = _parts(run_dir, letters, mods)
    cfgs = _in_run(mods, cfgs, sub_dirs)
    env = runs.env_record(device, sorted({s for c in cfgs.values() for s in getattr(c, "seeds", ())}))
    resolved = {k: dataclasses.asdict(c) for k, c in cfgs.items()}
    # config.json first: a folder holding it can always be resumed
    for sub, keys in {run_dir: letters, **{s: [k] for k, s in sub_dirs.items() if s != run_dir}}.items():
        runs.write_json(sub / "config.json", {"argv": argv, "quick": quick,
                                              "experiments": {k: resolved[k] for k in keys},
                                              "launch": launch.record()})
        runs.write_json(sub / "env.json", env)
    print(f"config: {run_dir / 'config.json'}", flush=True)
    t0 = time.perf_counter()
    for k in letters:
        _run_part(mods[k], cfgs[k], sub_dirs[k], launch,
                  **({"data": prepared[k]} if prepared[k] is not None else {}))
    return _finish(run_dir, letters, mods, time.perf_counter() - t0)


def _part_finished(folder: Path) -> bool:
    from utils import runs
    path = folder / "summary.json"
    try:
        return path.is_file() and bool(runs.read_json(path).get("finished"))
    except (OSError, ValueError, AttributeError):
        return False


def resume(run_dir: Path, state, launch) -> int:
    """Continue an interrupted run folder (one experiment or ``all``) with its
    own config: finished parts are kept, the unfinished one continues from its
    finished jobs (A: per-job results; B: per-epoch checkpoints), the rest run."""
    saved = load_saved_configs(str(run_dir), "--resume")
    take_folder(run_dir, "--resume")
    mods = registry()
    letters = [k for k in LETTERS if k in saved]
    cfgs = {}
    for k in letters:
        try:
            cfgs[k] = config_from_fields(mods[k].Config, saved[k])
            mods[k].validate(cfgs[k])
        except (ValueError, TypeError) as e:
            raise ValueError(f"--resume {run_dir}: experiment {k}: {e}") from None
    check_devices(cfgs)
    sub_dirs = _parts(run_dir, letters, mods)
    cfgs = _in_run(mods, cfgs, sub_dirs)
    state["run_dir"] = run_dir
    removed = runs.remove_orphan_temporaries(run_dir)
    # A run killed right after its top config.json has no per-part files yet.
    top = runs.read_json(run_dir / "config.json")
    for k, sub in sub_dirs.items():
        if sub != run_dir and not (sub / "config.json").is_file():
            runs.write_json(sub / "config.json", {"argv": top.get("argv"),
                                                  "experiments": {k: saved[k]},
                                                  "launch": top.get("launch")})
        if sub != run_dir and not (sub / "env.json").is_file() and (run_dir / "env.json").is_file():
            runs.write_json(sub / "env.json", runs.read_json(run_dir / "env.json"))
    if not (run_dir / "env.json").is_file():
        runs.write_json(run_dir / "env.json", runs.env_record(
            getattr(cfgs[letters[0]], "device", "cpu"),
            sorted({s for c in cfgs.values() for s in getattr(c, "seeds", ())})))
    print(f"run folder: {run_dir} (resuming{f'; removed {removed} stale temporary files' if removed else ''})",
          flush=True)
    t0 = time.perf_counter()
    for k in letters:
        if _part_finished(sub_dirs[k]):
            damaged = _damaged_file(sub_dirs[k])
            if damaged is None:
                print(f"  [{mods[k].NAME}] finished earlier: kept", flush=True)
                continue
            print(f"  [{mods[k].NAME}] finished earlier, but {damaged} does not read back: its "
                  f"jobs are checked and the damaged ones run again", flush=True)
        _run_part(mods[k], cfgs[k], sub_dirs[k], launch, resume=True)
    return _finish(run_dir, letters, mods, time.perf_counter() - t0)


def _run_part(mod, cfg, sub: Path, launch, **kwargs) -> dict:
    """One experiment into its folder; its summary is marked finished only
    when everything (arrays, figures) is written, which is what --resume reads."""
    summary = mod.run(cfg, sub, launch=launch, **kwargs)
    summary["finished"] = True
    runs.write_json(sub / "summary.json", summary)
    return summary


def _finish(run_dir: Path, letters, registry, wall: float) -> int:
    """The top summary of an 'all' folder, the report, and the closing block."""
    if len(letters) > 1:
        runs.write_json(run_dir / "summary.json", {
            "experiment": "all", "parts": {k: registry[k].NAME for k in letters},
            "figures": [], "tables": [], "warnings": [], "wall_seconds": {"total": wall},
            "finished": True})
    from utils.report import build_report  # the report stack (matplotlib, scipy) loads at the end
    from utils.report.closing import closing_lines
    from utils.report.loading import load_run
    report = build_report(run_dir)
    # the verdicts and where to read more (utils/report/closing.py); the tables are in the report
    print("\n".join(closing_lines(load_run(run_dir), report, wall)), flush=True)
    return 0


# --------------------------------------------------------------------------
# --report and --compare: from saved folders, no training
# --------------------------------------------------------------------------

def rebuild_report(run_dir: Path) -> int:
    """--report: redraw every figure from the saved arrays, rebuild report.html."""
    if not (run_dir / "summary.json").is_file():
        raise ValueError(f"--report {run_dir}: not a finished run folder (no summary.json)")
    mods = registry()
    try:
        top = runs.read_json(run_dir / "summary.json")
        parts = (top.get("parts", {}) if top.get("experiment") == "all"
                 else {str(top.get("experiment", "")).lower(): "."})
        if not isinstance(parts, dict):
            raise ValueError("'parts' is not a mapping")
    except (ValueError, AttributeError) as e:
        raise ValueError(f"--report {run_dir}: summary.json is not readable ({e})") from None
    unknown = sorted(k for k in parts if k not in mods)
    if unknown:
        raise ValueError(f"--report {run_dir}: summary.json names experiment(s) {unknown}; this "
                         f"version knows {sorted(mods)}")
    inside = run_dir.resolve()
    for k, sub in parts.items():
        if not isinstance(sub, str) or not (run_dir / sub).resolve().is_relative_to(inside):
            raise ValueError(f"--report {run_dir}: part {k!r} is {sub!r}, not a folder inside "
                             f"the run folder")
    take_folder(run_dir, "--report")
    from utils.report import build_report
    for k, sub in parts.items():
        try:
            mods[k].render_figures(run_dir / sub)
            mods[k].render_dose(run_dir / sub)
        except (KeyError, IndexError, TypeError, ValueError, OSError, EOFError,
                zipfile.BadZipFile) as e:
            raise ValueError(f"--report {run_dir / sub}: its saved arrays or config cannot "
                             f"be read ({type(e).__name__}: {e})") from None
    print(f"report: {build_report(run_dir)}")
    return 0


def compare(run_dirs: list[str], out_root: Path, state) -> int:
    """--compare: one report overlaying several run folders (checked before
    the comparison folder is created)."""
    if len(set(run_dirs)) < 2:
        raise ValueError(f"--compare: expected at least two different run folders, got "
                         f"{len(set(run_dirs))}")
    from experiments import dose
    from utils.report import build_comparison
    from utils.report.loading import load_run
    for d in run_dirs:
        try:
            load_run(Path(d))
        except (ValueError, OSError, KeyError, TypeError) as e:
            raise ValueError(f"--compare {d}: {' '.join(str(e).split()) or type(e).__name__}") from None
    runs.check_writable(out_root)
    out = runs.create_run_dir(out_root, "compare")
    state["run_dir"] = out
    print(f"comparison: {build_comparison([Path(d) for d in run_dirs], out, dose.DOSE)}")
    return 0
