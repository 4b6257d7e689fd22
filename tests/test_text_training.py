"""Text runs through the real CLI: batches of length buckets padded to their longest text
train as batches padded to max_length do, `ednax predict` on the test split gives
training's predictions (and new texts are read as the data step read its own), and a
killed run resumes to the uninterrupted run's metrics. The first 400 rows of the sample
topic texts keep it fast; the seeded order of the batches is tested in
test_text_models.py."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest

import ednax
from tests.conftest import SAMPLES, read_json, read_yaml, run_cli, write
from tests.test_torch_e2e import history, rows_in, start_run, stop, wait_for_epochs

TOPICS = SAMPLES / "data" / "text-topics" / "topics.csv"


@pytest.fixture
def texts(workdir: Path) -> Path:
    with TOPICS.open(newline="") as source:
        rows = list(csv.reader(source))[:401]
    path = workdir / "topics.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    return path


def config(workdir: Path, texts: Path, model: str, epochs: int = 2) -> Path:
    return write(
        workdir / "texts.yaml",
        f"""
experiment: {{name: texts, seed: 0}}
data: {{type: text_csv, path: {texts}, text: text, target: topic, id: id, val: 0.2, test: 0.2}}
preprocess:
  - {{type: wordpiece, vocab_size: 500, max_length: 24}}
model: {model}
optimizer: {{type: adam, lr: 3.0e-3}}
trainer: {{type: lightning, max_epochs: {epochs}, batch_size: 16, progress: none}}
metrics: {{names: [accuracy], monitor: val/accuracy}}
""",
    )


def succeeded(result):
    assert result.code == 0, result.text
    return result


def predictions(path: Path) -> dict[str, list[str]]:
    """id -> prediction and probabilities, from predictions.csv or `ednax predict`'s csv."""
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    skip = 2 if header[1] == "target" else 1
    return {row[0]: row[skip:] for row in rows}


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.slow
def test_padding_to_each_batchs_longest_text_trains_as_fixed_padding_and_predict_matches(
    cli, workdir, texts
):
    # Dropout off: its random draws follow the batch's shape, and nothing else does.
    model = (
        "{type: bert, hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32, "
        "dropout: 0.0, pooling: mean}"
    )
    path = config(workdir, texts, model)
    succeeded(
        cli(
            "run", path, "-m", "trainer.padding=longest,max_length", "trainer.bucket_by_length=true"
        )
    )
    runs: dict[str, tuple[dict, Path]] = {}
    for found in (workdir / "runs").rglob("metrics.json"):
        padding = read_yaml(found.parent / "config.yaml")["trainer"]["padding"]
        runs[padding] = read_json(found), found.parent
    (dynamic, bundle), (fixed, _) = runs["longest"], runs["max_length"]
    for split in ("train", "val", "test"):
        assert dynamic[split]["loss"] == pytest.approx(fixed[split]["loss"], abs=1e-4)
        assert dynamic[split]["accuracy"] == pytest.approx(fixed[split]["accuracy"], abs=1e-6)

    trained = predictions(bundle / "artifacts" / "predictions.csv")
    out = workdir / "test.csv"
    succeeded(cli("predict", bundle, "data:test", "-o", out))
    assert predictions(out) == trained and len(trained) == 80

    new = write(workdir / "new.csv", "id,text\nq1,the coach scored a goal in the match\nq2,\n")
    frame = ednax.load(bundle).predict_csv(new).to_frame()
    assert frame["id"].tolist() == ["q1", "q2"]
    assert set(frame["prediction"]) <= {"cooking", "finance", "sports", "technology", "travel"}
    assert frame.filter(like="proba_").sum(axis=1).round(5).tolist() == [1.0, 1.0]


@pytest.mark.slow
def test_a_killed_text_run_resumes_to_the_metrics_of_an_uninterrupted_one(workdir, texts):
    path = config(workdir, texts, "{type: text_cnn, embed_dim: 16, channels: 8}", epochs=6)
    args = (path, "trainer.progress=plain", "trainer.bucket_by_length=true")
    reference_dir = workdir / "reference"
    reference_dir.mkdir()
    reference = start_run(reference_dir, *args)
    killed = start_run(workdir, *args)
    try:
        bundle = wait_for_epochs(workdir / "runs", killed, 2)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert rows_in(bundle / "history.csv") < 6
        resumed = run_cli("resume", bundle, cwd=workdir)
        assert resumed.code == 0, resumed.text
        out, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, out + err
    finally:
        stop(killed)
        stop(reference)
    (uninterrupted,) = (reference_dir / "runs" / "texts").glob("2*")  # not latest
    assert read_json(bundle / "metrics.json") == read_json(uninterrupted / "metrics.json")
    assert history(bundle) == history(uninterrupted)
