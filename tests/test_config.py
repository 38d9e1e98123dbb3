"""Run-config validation: every error names the file, key, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dsgraph.config import RunConfig, apply_overrides, config_from_dict, load_config
from dsgraph.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BASE = {"version": 1, "data": {"path": "somewhere"}}


def write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("name", "workers", "servers"), [("recommender.yaml", 2, 1), ("node_classification.yaml", 0, 1)]
)
def test_examples_validate(name: str, workers: int, servers: int) -> None:
    """The recommender trains on local Ray by default (issue 6); Cora stays in process."""
    cfg = load_config(EXAMPLES / name)
    assert isinstance(cfg, RunConfig)
    assert cfg.cluster.num_workers == workers
    assert cfg.cluster.num_ps == servers
    assert cfg.cluster.address is None


def test_defaults_are_filled_and_resolved_round_trips() -> None:
    cfg = config_from_dict(BASE)
    resolved = cfg.resolved()
    assert resolved["train"]["compression"]["ratio"] == 0.05
    assert set(resolved) == {
        "version",
        "data",
        "partition",
        "sampler",
        "model",
        "task",
        "train",
        "cluster",
        "output",
    }
    assert config_from_dict(resolved) == cfg


def test_unknown_key_has_did_you_mean(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "train": {"lrr": 0.1}})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert str(path) in msg and "train.lrr" in msg and "did you mean 'train.lr'" in msg


def test_unknown_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        load_config(write(tmp_path, {**BASE, "modle": {}}))


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, {**BASE, "train": {"epochs": "many"}}))
    assert "train.epochs='many'" in str(err.value)


def test_bad_choice_lists_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, {**BASE, "train": {"precision": "fp8"}}))
    assert "train.precision='fp8'" in str(err.value) and "bf16" in str(err.value)


def test_incompatible_model_and_task() -> None:
    raw = {**BASE, "model": {"name": "lightgcn"}, "task": {"kind": "node_classification"}}
    with pytest.raises(ConfigError, match="incompatible"):
        config_from_dict(raw)


def test_pinsage_needs_its_sampler() -> None:
    with pytest.raises(ConfigError, match="pinsage"):
        config_from_dict({**BASE, "model": {"name": "pinsage"}})


def test_version_and_missing_data() -> None:
    with pytest.raises(ConfigError, match="version"):
        config_from_dict({"version": 2, "data": {"path": "x"}})
    with pytest.raises(ConfigError, match="missing required key 'data'"):
        config_from_dict({"version": 1})


def test_overrides_parse_yaml_values() -> None:
    cfg = config_from_dict(
        BASE,
        [
            "train.lr=0.05",
            "train.compression.enabled=true",
            "sampler.fanouts=[5, 5, 5]",
            "model.num_layers=3",
        ],
    )
    assert cfg.train.lr == 0.05
    assert cfg.train.compression.enabled is True
    assert cfg.sampler.fanouts == [5, 5, 5]


def test_override_unknown_key_and_bad_syntax() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'train\.epochs'"):
        apply_overrides({}, ["train.epoch=3"], "x.yaml")
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        apply_overrides({}, ["train.epochs"], "x.yaml")


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)
