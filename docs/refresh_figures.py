"""Copy a finished run's headline figures into docs/figures/ (what README.md shows).

Runs never write outside their own folder; this is the one explicit step that
changes the tracked figures:

    python docs/refresh_figures.py results/<stamp>_all

Each experiment module names its headline figures in ``STABLE_FIGURES``;
``docs/figures/SOURCE.txt`` records, per figure, the run folder it came from.
A quick run is refused: its figures are a smoke test, not results.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def refresh(run_dir: Path, dest: Path) -> list[Path]:
    """Copy the headline figures of ``run_dir`` (one experiment or an 'all'
    folder) to ``dest``; returns the copied paths. ValueError for a folder that
    is not a finished, full run."""
    from experiments import LETTERS, registry

    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{run_dir}: not a run folder ({e})") from None
    if record.get("quick"):
        raise ValueError(f"{run_dir}: a --quick run; refresh the figures from a full run")
    parts = [k for k in LETTERS if k in record.get("experiments", {})]
    modules = registry()
    copied, sources = [], {}
    for k in parts:
        mod = modules[k]
        sub = run_dir if len(parts) == 1 else run_dir / mod.NAME
        for name in mod.STABLE_FIGURES:
            src = sub / "figures" / name
            if not src.is_file():
                raise ValueError(f"{src}: missing (an unfinished run?)")
            sources[name] = src
    dest.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        shutil.copyfile(src, dest / name)
        copied.append(dest / name)
    # one line per figure; a refresh from one experiment keeps the others' lines
    record_file = dest / "SOURCE.txt"
    known = {}
    if record_file.is_file():
        for line in record_file.read_text().splitlines():
            name, _, origin = line.partition(" ")
            if origin and (dest / name).is_file():
                known[name] = origin
    known.update({name: str(src.parent.parent.relative_to(run_dir.parent))
                  for name, src in sources.items()})
    record_file.write_text("".join(f"{name} {origin}\n" for name, origin in sorted(known.items())))
    return copied


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="docs/refresh_figures.py", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path, help="a finished run folder (results/<stamp>_all)")
    p.add_argument("--dest", type=Path, default=ROOT / "docs" / "figures",
                   help="where the README's figures live (default: docs/figures)")
    args = p.parse_args(argv)
    try:
        copied = refresh(args.run_dir, args.dest)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{len(copied)} figures copied to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
