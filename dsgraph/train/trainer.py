"""The local training loop: batches → TrainStep → optimizer, with logs, evals and checkpoints.

``train(config, run_dir, resume=...)`` validates everything (config, data, model/task,
checkpoint) before it writes anything, then trains with a progress bar and leaves the run folder
described in :mod:`dsgraph.train.run`. A step is a pure function of (state, seed, step): batches
come from ``task.batch(epoch, index)`` and dropout is re-seeded per step, so a run resumed from a
checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dsgraph.config import RunConfig
from dsgraph.errors import ConfigError
from dsgraph.train.run import (
    RunLayout,
    load_dataset,
    node_types_of,
    prepare_run_dir,
    training_hash,
    write_embeddings,
    write_resolved_config,
    write_summary,
)

_TIMING_KEYS = ("sample", "forward", "backward", "compression", "optimizer")


@dataclass
class TrainResult:
    """What a finished run reports (also written to ``summary.json``)."""

    run_dir: Path
    steps: int
    epochs_done: float
    final: dict[str, float]
    baseline: dict[str, float]
    headline: str
    train_seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    guard_events: int = 0


def step_seed(seed: int, step: int) -> int:
    """Seed of torch's global generator for ``step`` (dropout): depends on nothing else."""
    return (seed * 1_000_003 + step * 7_919 + 12_345) % (2**63 - 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device='cuda' but no CUDA device is available; use cpu or auto")
    return torch.device(name)


def build_optimizer(model: torch.nn.Module, cfg: Any) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_components(config: RunConfig, task: Any, device: torch.device) -> dict[str, Any]:
    """Model, optimizer, precision policy, guard and compression of a run (seeded init)."""
    from dsgraph.models.registry import build_model
    from dsgraph.train.compression import GradientCompression
    from dsgraph.train.guard import LossGuard
    from dsgraph.train.precision import PrecisionPolicy

    tc = config.train
    torch.manual_seed(tc.seed)
    model = build_model(
        config.model, num_nodes=task.num_nodes, in_dim=task.in_dim, out_dim=task.out_dim
    ).to(device)
    optimizer = build_optimizer(model, tc)
    precision = PrecisionPolicy(tc.precision, device)
    g = tc.guard
    guard = (
        LossGuard(
            g.ema_decay,
            g.k_sigma,
            g.warmup_steps,
            g.fp32_steps,
            g.max_anomalies,
            g.window,
            lr_backoff=g.lr_backoff,
        )
        if g.enabled
        else None
    )
    c = tc.compression
    compression = (
        GradientCompression(
            c.ratio,
            c.error_feedback,
            c.momentum,
            c.warmup_steps,
            c.value_dtype,
            c.min_numel,
            seed=tc.seed,
        )
        if c.enabled
        else None
    )
    return {
        "model": model,
        "optimizer": optimizer,
        "precision": precision,
        "guard": guard,
        "compression": compression,
    }


def set_threads(threads: int | None) -> None:
    """Pin torch (and numba) to ``threads`` (None: leave the defaults)."""
    if threads is None:
        return
    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # numba is a dependency; tolerate a stripped install
        pass


class Trainer:
    """One run: construction validates and loads (no writes), :meth:`run` trains and writes."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        progress: bool = True,
        dataset: Any = None,
    ) -> None:
        from dsgraph.tasks.registry import build_task
        from dsgraph.train.checkpoint import CheckpointManager
        from dsgraph.train.step import TrainStep

        self.config = config
        self.layout = RunLayout(Path(run_dir))
        self.resume = resume
        self.progress = progress
        tc = config.train
        set_threads(tc.threads)
        self.device = resolve_device(tc.device)
        if self.device.type != "cpu":
            raise ConfigError("the local loop runs on CPU here; set train.device: cpu")
        # Refuse a taken folder before any expensive work (nothing is written yet).
        root = self.layout.root
        if not resume and root.exists() and any(root.iterdir()) and not config.output.overwrite:
            prepare_run_dir(self.layout, resume=False, overwrite=False)
        if resume:
            prepare_run_dir(self.layout, resume=True, overwrite=False)
        self.dataset = dataset if dataset is not None else load_dataset(config)
        self.task = build_task(self.dataset, config)
        parts = build_components(config, self.task, self.device)
        self.model = parts["model"]
        self.optimizer = parts["optimizer"]
        self.precision = parts["precision"]
        self.guard = parts["guard"]
        self.compression = parts["compression"]
        self.stepper = TrainStep(
            self.model, self.task, self.precision, self.guard, self.compression
        )
        self.checkpoints = CheckpointManager(
            self.layout.checkpoints, keep_last=tc.keep_last, config_hash=training_hash(config)
        )
        self.step = 0
        self.lr_scale = 1.0
        self.train_seconds = 0.0
        self._initial_state = self._state()
        if resume:
            self._restore(self.checkpoints.load(fallback=True), with_guard=True)

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        from dsgraph.train.rng import capture_rng_state

        return {
            "step": self.step,
            "lr_scale": self.lr_scale,
            "train_seconds": self.train_seconds,
            "model": {k: v.clone() for k, v in self.model.state_dict().items()},
            "optimizer": _clone(self.optimizer.state_dict()),
            "precision": self.precision.state_dict(),
            "compression": None if self.compression is None else self.compression.state_dict(),
            "guard": None if self.guard is None else self.guard.state_dict(),
            "rng": capture_rng_state(include_cuda=False),
        }

    def _restore(self, state: dict[str, Any], *, with_guard: bool) -> None:
        from dsgraph.train.rng import restore_rng_state

        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.precision.load_state_dict(state["precision"])
        if self.compression is not None and state["compression"] is not None:
            self.compression.load_state_dict(state["compression"])
        if with_guard and self.guard is not None and state["guard"] is not None:
            self.guard.load_state_dict(state["guard"])
        self.step = int(state["step"])
        self.lr_scale = float(state["lr_scale"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        restore_rng_state(state["rng"])

    def save_checkpoint(self) -> Path:
        return self.checkpoints.save(self.step, self._state())

    def _rollback(self) -> int:
        """Restore the last good checkpoint (or the initial state), lower the lr; new step."""
        latest = self.checkpoints.latest()
        state = self.checkpoints.load(fallback=True) if latest is not None else self._initial_state
        lr_scale = self.lr_scale * self.config.train.guard.lr_backoff
        self._restore(state, with_guard=False)
        self.checkpoints.discard_after(self.step)
        self.lr_scale = lr_scale
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.train.lr * lr_scale
        return self.step

    # ------------------------------------------------------------------ loop
    def total_steps(self) -> int:
        tc = self.config.train
        total = tc.epochs * self.task.num_batches()
        return min(total, tc.max_steps) if tc.max_steps else total

    def run(self) -> TrainResult:
        from dsgraph.train.metrics_log import MetricsLog, read_metrics, truncate_metrics
        from dsgraph.train.plots import plot_curves

        cfg, layout = self.config, self.layout
        if self.resume:
            truncate_metrics(layout.metrics, self.step)
        else:
            prepare_run_dir(layout, resume=False, overwrite=cfg.output.overwrite)
            layout.root.mkdir(parents=True, exist_ok=True)
        write_resolved_config(layout, cfg)
        nb = self.task.num_batches()
        total = self.total_steps()
        eval_every = cfg.train.eval_every or nb
        sums = dict.fromkeys(_TIMING_KEYS, 0.0)
        last_eval: dict[str, float] = {}
        budget = cfg.train.time_budget_s
        with MetricsLog(layout.metrics) as log, _progress(self.progress) as bar:
            if not self.resume:
                baseline = self.task.baseline()
                log.write("baseline", 0, **baseline)
            task_id = bar.add_task("training", total=total, completed=self.step, info="")
            steps_run = 0
            while self.step < total:
                if budget is not None and self.train_seconds >= budget:
                    break
                epoch, index = divmod(self.step, nb)
                t_start = time.perf_counter()
                batch = self.task.batch(epoch, index)
                t_sample = time.perf_counter() - t_start
                torch.manual_seed(step_seed(cfg.train.seed, self.step))
                out = self.stepper.compute(batch, self.step, self.optimizer)
                if out.verdict.action == "rollback":
                    ev = out.verdict.event
                    log.write(
                        "event",
                        self.step,
                        event="rollback",
                        loss=out.loss,
                        detail=ev.detail if ev else "",
                    )
                    self._rollback()
                    bar.update(task_id, completed=self.step)
                    continue
                self.stepper.apply(self.optimizer)
                self.train_seconds += time.perf_counter() - t_start
                out.timings["sample"] = t_sample
                for key in _TIMING_KEYS:
                    sums[key] += out.timings.get(key, 0.0)
                steps_run += 1
                self.step += 1
                if not out.verdict.ok and out.verdict.event is not None:
                    ev = out.verdict.event
                    log.write("event", self.step, event=ev.kind, loss=out.loss, detail=ev.detail)
                if self.step % cfg.train.log_every == 0 or self.step == total:
                    log.write(
                        "step",
                        self.step,
                        epoch=epoch,
                        lr=self.optimizer.param_groups[0]["lr"],
                        train_seconds=self.train_seconds,
                        **{f"time/{k}": v for k, v in out.timings.items()},
                        **out.stats,
                    )
                if self.step % eval_every == 0 or self.step == total:
                    last_eval = self.task.evaluate(self.model)
                    log.write(
                        "eval",
                        self.step,
                        epoch=epoch,
                        train_seconds=self.train_seconds,
                        **last_eval,
                    )
                if self.step % cfg.train.checkpoint_every == 0:
                    self.save_checkpoint()
                info = f"loss {out.loss:.4f}"
                if self.task.headline in last_eval:
                    info += f"  {self.task.headline} {last_eval[self.task.headline]:.4f}"
                bar.update(task_id, completed=self.step, info=info)
            if not last_eval or self.step % eval_every != 0:
                last_eval = self.task.evaluate(self.model)
                log.write("eval", self.step, train_seconds=self.train_seconds, **last_eval)
        self.save_checkpoint()
        records = read_metrics(layout.metrics)
        baseline = next((r for r in records if r["kind"] == "baseline"), {})
        baseline = {k: v for k, v in baseline.items() if k not in ("kind", "step")}
        if cfg.output.embeddings:
            self.write_embeddings()
        if cfg.output.plots:
            plot_curves(records, layout.curves, self.task.headline)
        done = max(steps_run, 1)
        result = TrainResult(
            run_dir=layout.root,
            steps=self.step,
            epochs_done=self.step / nb,
            final=last_eval,
            baseline=baseline,
            headline=self.task.headline,
            train_seconds=self.train_seconds,
            timings={k: v / done for k, v in sums.items()},
            guard_events=0 if self.guard is None else len(self.guard.events),
        )
        write_summary(layout, result.__dict__)
        return result

    def embeddings(self) -> torch.Tensor:
        """Final node representations (float32 [N, D]) from a full-graph eval forward."""
        if hasattr(self.task, "embeddings"):
            return self.task.embeddings(self.model)
        return self.task.predict(self.model)

    def write_embeddings(self) -> Path:
        emb = self.embeddings()
        write_embeddings(self.layout.embeddings, emb, node_types_of(self.task, self.dataset))
        return self.layout.embeddings


def _clone(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    return obj


class _NullBar:
    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NullBar()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )


def train(
    config: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    dataset: Any = None,
) -> TrainResult:
    """Train ``config`` into ``run_dir`` (see :class:`Trainer`); returns the final metrics."""
    return Trainer(config, run_dir, resume=resume, progress=progress, dataset=dataset).run()


def evaluate_run(run_dir: str | Path) -> tuple[dict[str, float], dict[str, float], str]:
    """Re-score a run from its latest checkpoint: (metrics, baseline, headline name)."""
    from dsgraph.train.run import read_run_config

    config = read_run_config(run_dir)
    trainer = Trainer(config, run_dir, resume=True, progress=False)
    return trainer.task.evaluate(trainer.model), trainer.task.baseline(), trainer.task.headline


def recommend(run_dir: str | Path, user: int, k: int = 20) -> list[tuple[int, float]]:
    """Top-``k`` unseen items (global node ids, scores) for ``user`` from embeddings.parquet."""
    import pyarrow.parquet as pq

    from dsgraph.tasks.registry import build_task
    from dsgraph.train.run import read_run_config

    config = read_run_config(run_dir)
    if config.task.kind != "recommendation":
        raise ConfigError(f"{run_dir} is a {config.task.kind} run; recommend needs recommendation")
    layout = RunLayout(Path(run_dir))
    if not layout.embeddings.is_file():
        raise ConfigError(f"{run_dir} has no embeddings.parquet (the run did not finish)")
    task = build_task(load_dataset(config), config)
    if not 0 <= user < task.num_users:
        raise ConfigError(f"--user {user} is out of range; users are 0..{task.num_users - 1}")
    col = pq.read_table(layout.embeddings, columns=["embedding"]).column("embedding")
    flat = col.combine_chunks().flatten().to_numpy()
    emb = torch.from_numpy(np.array(flat, dtype=np.float32).reshape(len(col), -1))
    items, scores = task.recommend(emb, user, k)
    return [(int(i) + task.num_users, float(s)) for i, s in zip(items, scores, strict=True)]
