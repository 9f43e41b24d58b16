"""MLflow recording overhead after a sweep's last trial: live recording against recording it all at the end.

A sweep of N trials (default 200), each with params, a 20-step curve and a log file, ends one
trial every `--pace` seconds into an embedded SQLite MLflow store (the demo's default):
- live: the flow's way now: every state is offered to `LiveRecorder` as the poll loop sees it;
  the last trial arrives with the sweep's end, as a local sweep's last poll usually brings both
  (the poll loop leaves the terminal state to the flow): the recorder drains, and the final
  `record_sweep` records the last trial, the sweep's status and best, and draws the plots;
- at end: the old way: nothing until the sweep ends, then one `record_sweep` of every trial.
The figure is the time from the last trial's end to the sweep being fully recorded, plots
included, and the CPU seconds this process spent in it (what the wall time comes to on an idle
machine). Rounds alternate the two, each in a fresh store, so a busy machine hurts both alike;
medians and their ratio are printed with the load average. Goal: live <= 2 s for 200 trials.
Run: `.venv/bin/python bench/recording.py [--trials 200] [--rounds 3] [--pace 0.15] [--only live]`.
`--png` times the PNG rendering alone of the two plots with a line per trial (learning curves,
parallel coordinates): Optuna's matplotlib plots against ours (`hpo_flow.tasks.plot_png`), interleaved.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hpo_flow.adapters.port import SweepRef, SweepState, SweepStatus, Trial, TrialStatus
from hpo_flow.adapters.spec import parse_config
from hpo_flow.tasks.tracking import record_sweep
from hpo_flow.tasks.tracking.live import LiveRecorder


def make_config(tmp: Path, trials: int) -> object:
    return parse_config(
        {
            "project": "bench-recording",
            "training": {
                "entry_point": "train.py",
                "hyperparameters": {"epochs": 20, "lr": 0.01, "hidden": 64},
                "metric_definitions": [{"Name": "accuracy", "Regex": "accuracy: ([0-9.]+)"}],
            },
            "tuning": {
                "max_jobs": trials,
                "max_parallel_jobs": 2,
                "objective_metric": "accuracy",
                "hyperparameter_ranges": {
                    "lr": {"type": "continuous", "min": 0.0001, "max": 0.1, "scaling_type": "Logarithmic"},
                    "hidden": {"type": "integer", "min": 16, "max": 256},
                },
            },
            "mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"},
        }
    )


def trial(i: int, total: int, logs: Path, start: datetime) -> Trial:
    x = (i * 7919 % total) / total
    curve = [(step, round(0.5 + 0.45 * x * (step + 1) / 20, 6)) for step in range(20)]
    log = logs / f"trial-{i}.log"
    log.write_text("".join(f"epoch {s} accuracy: {v}\n" for s, v in curve))
    return Trial(
        id=f"trial-{i:04d}",
        params={"lr": 0.0001 + 0.0999 * x, "hidden": 16 + int(240 * x)},
        status=TrialStatus.COMPLETED,
        objective=curve[-1][1],
        metrics={"accuracy": curve[-1][1]},
        curves={"accuracy": curve},
        started_at=start + timedelta(seconds=i),
        ended_at=start + timedelta(seconds=i + 1),
        log_path=str(log),
    )


def one_round(live: bool, trials: int, pace: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        config = make_config(root, trials)
        ref = SweepRef(backend="fake", name=f"bench-{'live' if live else 'end'}")
        start = datetime.now(UTC)
        done: list[Trial] = []
        recorder = LiveRecorder(config, ref) if live else None  # type: ignore[arg-type]
        for i in range(trials):
            time.sleep(pace)  # the trial runs
            done.append(trial(i, trials, root / "logs", start))
            if recorder is not None and i < trials - 1:
                recorder.offer(SweepState(SweepStatus.RUNNING, list(done)))
        last_end, cpu = time.perf_counter(), time.process_time()
        if recorder is not None:
            recorder.close()
        record_sweep(config, ref, SweepState(SweepStatus.COMPLETED, done))  # type: ignore[arg-type]
        return time.perf_counter() - last_end, time.process_time() - cpu


def png_rounds(trials: int, rounds: int) -> None:
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as mpl

    from hpo_flow.tasks import plot_png
    from hpo_flow.tasks.plots import build_study, quiet_optuna

    with tempfile.TemporaryDirectory(prefix="bench-png-") as tmp:
        root = Path(tmp)
        config = make_config(root, trials)
        done = [trial(i, trials, root, datetime.now(UTC)) for i in range(trials)]
        study = build_study(done, config.objective, "accuracy", config.tuning.hyperparameter_ranges)  # type: ignore[attr-defined]
        drawers = {
            "optuna": lambda: [
                mpl.plot_intermediate_values(study),
                mpl.plot_parallel_coordinate(study, target_name="accuracy"),
            ],
            "ours": lambda: [
                plot_png.learning_curves(study, "accuracy"),
                plot_png.parallel_coordinates(study, "accuracy"),
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in drawers}
        loads = []
        for r in range(rounds + 1):  # round 0 warms imports and font caches up, uncounted
            for name in drawers if r % 2 == 0 else list(drawers)[::-1]:
                start = time.perf_counter()
                with quiet_optuna():
                    for drawn in drawers[name]():
                        figure = getattr(drawn, "figure", drawn)
                        figure.set_size_inches(9, 5.5)
                        for ax in figure.axes:  # as the old `write_plots` did: no per-trial legend nor markers
                            if ax.get_legend() is not None and len(ax.get_legend().get_texts()) > 12:
                                ax.get_legend().remove()
                                for line in ax.lines:
                                    line.set_marker("")
                        figure.savefig(root / "plot.png", dpi=110, bbox_inches="tight" if name == "optuna" else None)
                        plt.close(figure)
                if r:
                    times[name].append(time.perf_counter() - start)
                    loads.append(os.getloadavg()[0])
                    print(f"round {r} {name:6s} {times[name][-1]:.2f} s load {loads[-1]:.1f}", flush=True)
    median = {name: statistics.median(v) for name, v in times.items()}
    print(
        f"\n{trials} trials, learning curves + parallel coordinates PNGs (median of {rounds}): "
        f"optuna {median['optuna']:.2f} s, ours {median['ours']:.2f} s, ratio {median['ours'] / median['optuna']:.2f}; "
        f"load {statistics.median(loads):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pace", type=float, default=0.15, help="seconds between two trials ending")
    parser.add_argument("--only", choices=["live", "at end"], help="measure one of the two only")
    parser.add_argument("--png", action="store_true", help="time the per-trial PNG plots alone: Optuna's and ours")
    args = parser.parse_args()
    if args.png:
        png_rounds(args.trials, args.rounds)
        return
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    one_round(True, 4, 0)  # warm-up: imports, SQLite schema code paths
    modes = [args.only] if args.only else ["live", "at end"]
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    loads = []
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else modes[::-1]:
            seconds, cpu = one_round(mode == "live", args.trials, args.pace)
            results[mode].append((seconds, cpu))
            loads.append(os.getloadavg()[0])
            print(
                f"round {r + 1} {mode:7s} {seconds:6.2f} s after the last trial ({cpu:.2f} s CPU) load {loads[-1]:.1f}",
                flush=True,
            )
    print(f"\n{args.trials} trials, one ending every {args.pace:g} s, SQLite MLflow store")
    median = {m: (statistics.median(s for s, _ in v), statistics.median(c for _, c in v)) for m, v in results.items()}
    shown = ", ".join(f"{m} {s:.2f} s ({c:.2f} s CPU)" for m, (s, c) in median.items())
    print(f"recording after the last trial (median of {args.rounds}): {shown}; load {statistics.median(loads):.1f}")
    if len(median) == 2:
        print(f"ratio live / at end: {median['live'][0] / median['at end'][0]:.2f}   (goal: live <= 2 s)")


if __name__ == "__main__":
    main()
