"""The run configuration: a versioned, sectioned YAML validated up front.

``load_config(path, overrides)`` reads the YAML, applies ``--set key.path=value`` overrides and
validates everything with pydantic. Every problem becomes one :class:`ConfigError` line naming the
file, the key path, the value found and what is allowed (with a did-you-mean for unknown keys).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dsgraph.errors import ConfigError

CONFIG_VERSION = 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GenerateConfig(_Section):
    """How to create the dataset when ``data.path`` does not exist yet (synthetic data only)."""

    kind: Literal["user_item", "sbm", "rmat"] = "user_item"
    num_users: int = Field(2000, gt=0)
    num_items: int = Field(1000, gt=0)
    num_nodes: int = Field(10_000, gt=0)
    num_classes: int = Field(5, gt=0)
    feature_dim: int = Field(32, ge=0)
    scale: int = Field(14, gt=0, le=30)
    seed: int = 0


class DataConfig(_Section):
    """Where the Parquet dataset lives; relative paths resolve against the config file."""

    path: Path
    generate: GenerateConfig | None = None
    normalize_features: bool = False  # row-normalise (L1) node features, as GCN's paper does


class PartitionConfig(_Section):
    """METIS partitioning (used by distributed training)."""

    num_parts: int = Field(1, ge=1)
    hub_threshold: int = Field(1000, ge=1)
    seed: int = 0
    # halo depth of a training part; None = exact (model layers, +1 for recommendation).
    # Fewer hops trade exactness at the part's edge for memory.
    halo_hops: int | None = Field(None, ge=1)


class SamplerConfig(_Section):
    """How a training step sees the graph.

    ``full``: the whole graph per step (fastest for graphs that fit, e.g. LightGCN on
    MovieLens); ``neighbor``: fan-out sampled message-flow graphs around the batch; ``pinsage``:
    random-walk importance neighbourhoods (required by the PinSAGE model).
    """

    kind: Literal["full", "neighbor", "pinsage"] = "full"
    fanouts: list[int] = Field(default_factory=lambda: [10, 10])
    num_walks: int = Field(50, gt=0)
    walk_length: int = Field(2, gt=0)
    restart_prob: float = Field(0.5, ge=0.0, lt=1.0)
    top_t: int = Field(10, gt=0)
    seed: int = 0


class ModelConfig(_Section):
    """The GNN: layer type, widths and the learnable embeddings of featureless nodes."""

    name: Literal["lightgcn", "gcn", "graphsage", "gat", "pinsage"] = "lightgcn"
    hidden_dim: int = Field(64, gt=0)
    embedding_dim: int = Field(64, gt=0)
    num_layers: int = Field(3, ge=1, le=8)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    heads: int = Field(4, ge=1)


class TaskConfig(_Section):
    """What is learned and how it is scored."""

    kind: Literal["recommendation", "node_classification"] = "recommendation"
    negatives: Literal["uniform", "popularity"] = "uniform"
    popularity_alpha: float = Field(0.75, ge=0.0, le=2.0)
    hard_negatives: float = Field(0.0, ge=0.0, le=1.0)
    hard_pool: int = Field(16, ge=1)
    l2_reg: float = Field(1e-4, ge=0.0)
    k: int = Field(20, ge=1)


class CompressionConfig(_Section):
    """Top-K gradient compression with error feedback (GRACE / DGC)."""

    enabled: bool = False
    ratio: float = Field(0.05, gt=0.0, le=1.0)
    error_feedback: bool = True
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    warmup_steps: int = Field(0, ge=0)
    value_dtype: Literal["fp32", "fp16"] = "fp32"
    min_numel: int = Field(1024, ge=1)


class GuardConfig(_Section):
    """Loss-anomaly guard: skip spikes, fall back to fp32, roll back after repeated anomalies."""

    enabled: bool = True
    ema_decay: float = Field(0.98, gt=0.0, lt=1.0)
    k_sigma: float = Field(6.0, gt=0.0)
    warmup_steps: int = Field(20, ge=0)
    fp32_steps: int = Field(50, ge=0)
    max_anomalies: int = Field(3, ge=1)
    window: int = Field(200, ge=1)
    lr_backoff: float = Field(0.5, gt=0.0, le=1.0)


class TrainConfig(_Section):
    """The optimisation loop."""

    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    time_budget_s: float | None = Field(None, gt=0)
    batch_size: int = Field(2048, ge=1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    threads: int | None = Field(None, ge=1)
    seed: int = 0
    eval_every: int = Field(0, ge=0)
    log_every: int = Field(1, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    keep_last: int = Field(3, ge=1)
    compression: CompressionConfig = Field(default_factory=CompressionConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)


class ClusterConfig(_Section):
    """Ray cluster settings, read by ``dsgraph.distributed`` (``num_workers: 0`` = local loop)."""

    address: str | None = None
    num_workers: int = Field(0, ge=0)
    num_ps: int = Field(1, ge=1)
    max_staleness: int = Field(4, ge=0)
    staleness_policy: Literal["drop", "downweight"] = "drop"
    pull_every: int = Field(1, ge=1)
    ps_checkpoint_every: int = Field(1000, ge=1)
    max_restarts: int = Field(3, ge=0)
    object_store_mb: int | None = Field(None, ge=64)
    dashboard: bool = False
    remote_timeout_s: float = Field(60.0, gt=0)


class OutputConfig(_Section):
    """Where a run writes; the run folder is ``dir/name`` (name defaults to the config's stem)."""

    dir: Path = Path("runs")
    name: str | None = None
    overwrite: bool = False
    plots: bool = True
    embeddings: bool = True


_COMPATIBLE = {
    "recommendation": {"lightgcn", "gcn", "graphsage", "gat", "pinsage"},
    "node_classification": {"gcn", "graphsage", "gat", "pinsage"},
}


class RunConfig(_Section):
    """The whole run: one object per YAML section."""

    version: Literal[1] = 1
    data: DataConfig
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _check_combinations(self) -> RunConfig:
        allowed = _COMPATIBLE[self.task.kind]
        if self.model.name not in allowed:
            raise ValueError(
                f"model.name={self.model.name!r} is incompatible with task.kind="
                f"{self.task.kind!r} (LightGCN has no classifier head); allowed: {sorted(allowed)}"
            )
        if (self.model.name == "pinsage") != (self.sampler.kind == "pinsage"):
            raise ValueError(
                f"model.name={self.model.name!r} with sampler.kind={self.sampler.kind!r}: "
                "the pinsage model needs sampler.kind='pinsage' and that sampler feeds only it"
            )
        if self.sampler.kind == "neighbor" and len(self.sampler.fanouts) != self.model.num_layers:
            raise ValueError(
                f"sampler.fanouts has {len(self.sampler.fanouts)} entries but model.num_layers="
                f"{self.model.num_layers}; give one fan-out per layer"
            )
        return self

    def resolved(self) -> dict[str, Any]:
        """Plain JSON-able dict of every setting, defaults filled in."""
        return json.loads(self.model_dump_json())

    def run_dir(self, config_path: Path | None = None) -> Path:
        """The output folder of this run."""
        name = self.output.name or (config_path.stem if config_path else "run")
        return self.output.dir / name


# --------------------------------------------------------------------------- loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``key.path=value``; the value is parsed as YAML (``0.01``, ``true``, ``[5, 5]``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key path")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({exc})") from None
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Return ``raw`` with every ``key.path=value`` applied; unknown keys get a did-you-mean."""
    for text in overrides:
        path, value = parse_override(text)
        node: Any = raw
        model: type[BaseModel] | None = RunConfig
        for depth, part in enumerate(path):
            if model is not None and part not in model.model_fields:
                _unknown_key(source, path[: depth + 1], sorted(model.model_fields))
            if depth == len(path) - 1:
                node[part] = value
                break
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{source}: --set {text!r}: {'.'.join(path[: depth + 1])} is not a section"
                )
            node = child
            model = _section_model(model, part)
    return raw


def _section_model(model: type[BaseModel] | None, field: str) -> type[BaseModel] | None:
    if model is None:
        return None
    annotation = model.model_fields[field].annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unknown_key(source: str, path: list[str], allowed: list[str]) -> None:
    key = ".".join(path)
    close = difflib.get_close_matches(path[-1], allowed, n=1, cutoff=0.6)
    hint = f" (did you mean {'.'.join([*path[:-1], close[0]])!r}?)" if close else ""
    raise ConfigError(f"{source}: unknown key {key!r}{hint}; allowed here: {', '.join(allowed)}")


def _first_error(source: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "<root>"
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] | None = RunConfig
        for part in loc[:-1]:
            model = _section_model(model, part) if model else None
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f" (did you mean {'.'.join([*loc[:-1], close[0]])!r}?)" if close else ""
        return ConfigError(
            f"{source}: unknown key {key!r}{hint}; allowed here: {', '.join(allowed)}"
        )
    if err["type"] == "missing":
        return ConfigError(f"{source}: missing required key {key!r}")
    msg = err["msg"].removeprefix("Value error, ")
    if loc:
        return ConfigError(f"{source}: {key}={err.get('input')!r} is invalid: {msg}")
    return ConfigError(f"{source}: {msg}")


def validate_config(raw: Any, source: str = "<config>") -> RunConfig:
    """Validate a parsed YAML document; raises ConfigError naming the key and the allowed values."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    version = raw.get("version")
    if version != CONFIG_VERSION:
        raise ConfigError(
            f"{source}: version={version!r} is not supported; allowed: {CONFIG_VERSION}"
        )
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(source, exc) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML run config.

    Relative ``data.path`` and ``output.dir`` stay relative to the current directory (the
    examples are run from the repository root, as ``make train`` does).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"config file {source} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    raw = apply_overrides(raw, list(overrides or []), source)
    return validate_config(raw, source)


def config_from_dict(raw: dict[str, Any], overrides: list[str] | None = None) -> RunConfig:
    """Validate an in-memory config (tests, notebooks, the resolved config of a run)."""
    import copy

    raw = apply_overrides(copy.deepcopy(raw), list(overrides or []), "<config>")
    return validate_config(raw, "<config>")
