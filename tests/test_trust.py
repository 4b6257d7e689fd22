"""Authenticated artifacts: nothing is unpickled unless this user's ednax signed it.

Each attack puts a malicious pickle (unpickling it creates a sentinel file) where ednax
would load one, and rewrites run.json's sha256 to match, as anyone who can write the
bundle can; the sentinel must never appear. See docs/security.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import pickle
import shutil
import stat
import warnings
from pathlib import Path

import pytest

from ednax.errors import UsageError
from ednax.runs import trust
from tests.conftest import SAMPLES, bundles_in, read_json, run_cli

IRIS = SAMPLES / "iris-sklearn.yaml"
SMALL = ["model.n_estimators=5"]
KFOLD = [*SMALL, "evaluation.strategy=kfold", "evaluation.folds=2"]
REFUSED = "not signed by this user's ednax"


class Payload:
    """What an attacker pickles: loading it runs `exec`, which leaves the sentinel."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return exec, (f"open({str(self.sentinel)!r}, 'w').write('pwned')",)


def plant(bundle: Path, name: str, sentinel: Path, *, hmac: str = "stale") -> None:
    """artifacts/<name> replaced by a malicious pickle, run.json's sha256 and size rewritten
    to match; its hmac left as it was ("stale"), removed, or forged with another secret."""
    path = bundle / "artifacts" / name
    data = pickle.dumps(Payload(sentinel))
    path.write_bytes(data)
    record = read_json(bundle / "run.json")
    entry = record["artifacts"][name]
    entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    if hmac == "removed":
        del entry["hmac"]
    elif hmac == "forged":
        entry["hmac"] = trust.Signer(trust.ARTIFACT, key=b"the attacker's own secret!").sign()
    (bundle / "run.json").write_text(json.dumps(record))


def sentinel_of(workdir: Path) -> Path:
    return workdir / "PWNED"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, Path]:
    """A holdout and a 2-fold iris run, made once; each test works on copies."""
    home = tmp_path_factory.mktemp("made")
    bundles = {}
    for kind, overrides in (("holdout", SMALL), ("kfold", KFOLD)):
        result = run_cli("run", IRIS, *overrides, cwd=home)
        assert result.code == 0, result.text
        bundles[kind] = bundles_in(home / "runs" / "iris-sklearn")[-1]
    return bundles


def copy(made: dict[str, Path], kind: str, workdir: Path) -> Path:
    target = workdir / "bundles" / made[kind].name
    shutil.copytree(made[kind], target)
    return target


@pytest.mark.parametrize(
    ("name", "hmac"),
    [
        ("model.pkl", "stale"),
        ("preprocess.pkl", "stale"),
        ("model.pkl", "removed"),
        ("model.pkl", "forged"),
    ],
)
def test_predict_refuses_a_planted_pickle(cli, workdir, made, name, hmac):
    bundle = copy(made, "holdout", workdir)
    plant(bundle, name, sentinel_of(workdir), hmac=hmac)
    result = cli("predict", bundle, "data:test")
    assert result.code == 2, result.text
    assert f"refusing to unpickle {bundle / 'artifacts' / name}" in result.err
    assert REFUSED in result.err
    assert "--trust" in result.err
    assert not sentinel_of(workdir).exists()


@pytest.mark.parametrize("name", ["fold-1/model.pkl", "fold-0/preprocess.pkl"])
def test_predict_refuses_a_planted_pickle_in_a_fold(cli, workdir, made, name):
    bundle = copy(made, "kfold", workdir)
    plant(bundle, name, sentinel_of(workdir))
    fold = name.split("/")[0]
    result = cli("predict", bundle, "data:test", "--fold", fold)
    assert result.code == 2, result.text
    assert f"refusing to unpickle {bundle / 'artifacts' / name}" in result.err
    assert not sentinel_of(workdir).exists()
    other = "fold-0" if fold == "fold-1" else "fold-1"
    assert cli("predict", bundle, "data:test", "--fold", other).code == 0


def test_trust_does_not_skip_the_sha256(cli, workdir, made):
    bundle = copy(made, "holdout", workdir)
    model = bundle / "artifacts" / "model.pkl"
    model.write_bytes(pickle.dumps(Payload(sentinel_of(workdir))))
    result = cli("predict", "--trust", bundle, "data:test")
    assert result.code == 2, result.text
    assert "was changed after the run" in result.err
    assert not sentinel_of(workdir).exists()


def test_a_bundle_from_before_signing_is_refused_then_trusted(cli, workdir, made):
    bundle = copy(made, "holdout", workdir)
    record = read_json(bundle / "run.json")
    for entry in record["artifacts"].values():
        del entry["hmac"]
    (bundle / "run.json").write_text(json.dumps(record))
    refused = cli("predict", bundle, "data:test")
    assert refused.code == 2, refused.text
    assert "run.json records no signature" in refused.err
    assert f"ednax predict --trust {bundle}" in refused.err
    trusted = cli("predict", "--trust", bundle, "data:test")
    assert trusted.code == 0, trusted.text
    assert "warning: trusting" in trusted.err


def test_a_colleagues_bundle_is_refused_unless_trusted(cli, workdir, monkeypatch):
    own = os.environ[trust.SECRET_ENV]
    monkeypatch.setenv(trust.SECRET_ENV, str(workdir / "colleague" / "secret"))
    assert cli("run", IRIS, *SMALL).code == 0
    monkeypatch.setenv(trust.SECRET_ENV, own)
    bundle = bundles_in(workdir / "runs" / "iris-sklearn")[-1]
    refused = cli("predict", bundle, "data:test")
    assert refused.code == 2, refused.text
    assert f"refusing to unpickle {bundle / 'artifacts' / 'preprocess.pkl'}" in refused.err
    assert REFUSED in refused.err
    trusted = cli("predict", "--trust", bundle, "data:test")
    assert trusted.code == 0, trusted.text
    assert "warning: trusting" in trusted.err
    written = csv.DictReader(io.StringIO((bundle / "artifacts" / "predictions.csv").read_text()))
    predicted = csv.DictReader(io.StringIO(trusted.out))
    assert [r["prediction"] for r in predicted] == [r["prediction"] for r in written]


def test_load_from_python_refuses_then_trusts_with_a_warning(workdir, made):
    import ednax

    bundle = copy(made, "holdout", workdir)
    key = b"a colleague's secret, not ours"
    record = read_json(bundle / "run.json")
    for name, entry in record["artifacts"].items():
        mac = trust.Signer(trust.ARTIFACT, key=key).new()
        mac.update((bundle / "artifacts" / name).read_bytes())
        entry["hmac"] = mac.hexdigest()
    (bundle / "run.json").write_text(json.dumps(record))
    rows = [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5}]
    rows[0].update({"petal length (cm)": 1.4, "petal width (cm)": 0.2})
    with pytest.raises(UsageError, match=REFUSED):
        ednax.load(bundle).predict(rows)
    with pytest.warns(UserWarning, match="trusting"):
        loaded = ednax.load(bundle, trust=True)
    assert loaded.predict(rows)["prediction"].tolist() == ["setosa"]


def only_entry(runs: Path) -> Path:
    [entry] = [p for p in (runs / ".cache" / "preprocess").iterdir()]
    return entry


def plant_in_cache(entry: Path, sentinel: Path) -> None:
    (entry / "pipeline.pkl").write_bytes(pickle.dumps(Payload(sentinel)))


def newest_log(workdir: Path) -> str:
    return (bundles_in(workdir / "runs" / "iris-sklearn")[-1] / "log.txt").read_text()


def test_run_ignores_a_planted_cache_entry_and_replaces_it(cli, workdir):
    assert cli("run", IRIS, *SMALL).code == 0
    entry = only_entry(workdir / "runs")
    plant_in_cache(entry, sentinel_of(workdir))
    second = cli("run", IRIS, *SMALL)
    assert second.code == 0, second.text
    assert not sentinel_of(workdir).exists()
    assert "standard_scaler (fit on train)" in second.out
    assert only_entry(workdir / "runs") == entry  # replaced by a signed one
    third = cli("run", IRIS, *SMALL)
    assert "standard_scaler (from the cache)" in third.out
    assert not sentinel_of(workdir).exists()


def test_a_cache_entry_without_a_signature_is_a_miss(cli, workdir):
    assert cli("run", IRIS, *SMALL).code == 0
    entry = only_entry(workdir / "runs")
    meta = json.loads((entry / "meta.json").read_text())
    (entry / "meta.json").write_text(json.dumps({"feature_names": meta["feature_names"]}))
    plant_in_cache(entry, sentinel_of(workdir))
    result = cli("run", IRIS, *SMALL)
    assert result.code == 0, result.text
    assert "standard_scaler (fit on train)" in result.out
    assert not sentinel_of(workdir).exists()


def test_the_run_log_says_a_cache_entry_was_ignored(cli, workdir):
    assert cli("run", IRIS, *SMALL).code == 0
    entry = only_entry(workdir / "runs")
    plant_in_cache(entry, sentinel_of(workdir))
    assert cli("run", IRIS, *SMALL).code == 0
    log = newest_log(workdir)
    assert f"preprocess: ignored cache entry {Path('runs', *entry.parts[-3:])} is" in log
    assert REFUSED in log
    assert not sentinel_of(workdir).exists()


def test_rerun_of_a_tampered_bundle_with_a_tampered_cache_runs_nothing_planted(cli, workdir, made):
    bundle = copy(made, "kfold", workdir)
    for name in ("fold-0/model.pkl", "fold-1/preprocess.pkl"):
        plant(bundle, name, sentinel_of(workdir))
    result = cli("run", IRIS, *KFOLD)  # fills ./runs/.cache with the folds' entries
    assert result.code == 0, result.text
    for entry in (workdir / "runs" / ".cache" / "preprocess").iterdir():
        plant_in_cache(entry, sentinel_of(workdir))
    rerun = cli("rerun", bundle)
    assert rerun.code == 0, rerun.text
    assert "(from the cache)" not in rerun.out
    assert not sentinel_of(workdir).exists()


def test_weights_from_a_run_load_no_pickled_objects(tmp_path):
    """`weights: {type: run}` reads a checkpoint with weights_only=True: a planted object
    is refused by torch itself, so such files need no signature."""
    torch = pytest.importorskip("torch")
    from ednax.errors import ConfigError
    from ednax.steps.weights import FromRun

    sentinel = tmp_path / "PWNED"
    (tmp_path / "run" / "artifacts").mkdir(parents=True)
    torch.save({"state_dict": Payload(sentinel)}, tmp_path / "run" / "artifacts" / "best.ckpt")
    with pytest.raises(ConfigError, match="weights_only"):
        FromRun(path=str(tmp_path / "run")).apply(torch.nn.Linear(2, 2))
    assert not sentinel.exists()


def test_the_secret_is_created_private_in_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(trust.SECRET_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    trust.forget()
    try:
        path = tmp_path / "config" / "ednax" / "secret"
        assert trust.secret_path() == path
        key = trust.secret()
        assert len(key) == trust.SECRET_BYTES and path.read_bytes() == key
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert list(path.parent.iterdir()) == [path]  # no temporary file left
    finally:
        trust.forget()


def _secret_of(path: str) -> bytes:
    os.environ[trust.SECRET_ENV] = path
    trust.forget()
    return trust.secret()


def test_processes_creating_the_secret_at_once_agree_on_it(tmp_path):
    path = str(tmp_path / "shared" / "secret")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        keys = pool.map(_secret_of, [path] * 8)
    assert len(set(keys)) == 1 and keys[0] == Path(path).read_bytes()


def test_a_secret_others_can_read_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "secret"
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    monkeypatch.setenv(trust.SECRET_ENV, str(path))
    trust.forget()
    try:
        with pytest.raises(UsageError, match="chmod 600"):
            trust.secret()
        path.chmod(0o600)
        with warnings.catch_warnings():
            assert trust.secret() == path.read_bytes()
    finally:
        trust.forget()
