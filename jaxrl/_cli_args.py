"""The flags of ``jaxrl evaluate`` and ``jaxrl compare`` (tyro reads each field's docstring
as its help). Imported only when one of those commands runs."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import tyro


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """Re-runs a run directory's saved final policies: every run greedily and stochastically
    (writes DIR/evaluation*.json), or with --video one episode of one run as a GIF or MP4."""

    run_dir: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="DIR")]
    """A results directory of `jaxrl train` or `jaxrl sweep`."""
    episodes: int = 32
    """Episodes per run, played in parallel."""
    perturb: str = ""
    """Draw each episode's env params from ranges NAME=LOW:HIGH,... (e.g. length=0.25:0.75)."""
    seed: int = 0
    """Evaluation seed."""
    overwrite: bool = False
    """Replace an existing evaluation*.json (or video)."""
    video: bool = False
    """Record one greedy episode of one run instead (classic control, MinAtar, swing-up)."""
    video_path: str | None = None
    """.gif, or .mp4 with imageio-ffmpeg installed (default: DIR/videos/run<N>.gif)."""
    run: str = "best"
    """The run to record: its index, or best (highest final return)."""
    fps: int = 30
    """Frames per second of the video."""


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    """Final returns of finished runs: IQM with a 95% bootstrap CI per population (a run
    directory, or each grid point of a sweep) and P(row > column) with its CI."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="[LABEL=]DIR")]
    """Run directories; runs on different envs with the same LABEL are one method's tasks."""
    normalize: bool = False
    """Score each env's runs as (return - random) / (reference - random): envs as tasks."""
    reference: tuple[str, ...] = ()
    """ENV=SCORE: the return that normalises to 1 on ENV (built in for a few envs)."""
    out: str | None = None
    """Also plot the IQMs with their CIs to this PNG."""
