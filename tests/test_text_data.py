"""Text data: the text_csv and text_folder steps (splits, ids, extras), tokenizers fitted on
train only and kept as JSON, the tokenized splits cached, and every bad input reported by
`ednax validate` with exit 2, naming the file, column or row, before any bundle."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ednax.engine import preprocessing
from ednax.engine.preprocessing import PIPELINE, TOKENIZER, PreprocessCache, prepare
from ednax.errors import ConfigError, UsageError
from ednax.steps.text.data import TextCsv, TextFolder, read_texts
from ednax.steps.text.tokenizers import (
    BPE,
    TOKENIZER_JSON,
    TOKENIZER_STATE,
    HfTokenizer,
    Unigram,
    WordPiece,
    load_fitted,
)
from ednax.steps.text.tokens import TextSplit, TokenSplit
from tests.conftest import SAMPLES, bundle_of, run_cli, write

TOPICS = SAMPLES / "data" / "text-topics" / "topics.csv"
WORDS = {
    "pets": "cat dog purr bark leash kitten puppy fur",
    "food": "bread soup salt bake oven pasta sauce rice",
}
WIDE = {"COLUMNS": "250", "NO_COLOR": "1"}
TRAINED = {"wordpiece": WordPiece, "bpe": BPE, "unigram": Unigram}


def texts_csv(path: Path, rows: int = 40, **columns: list) -> Path:
    """A CSV of `rows` texts of two classes (id, text, label, length), and `columns`."""
    data = {
        "id": [f"r{i}" for i in range(rows)],
        "text": [_sentence(i) for i in range(rows)],
        "label": [sorted(WORDS)[i % 2] for i in range(rows)],
        "length": [float(len(_sentence(i))) for i in range(rows)],
        **columns,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(data))
        writer.writerows(zip(*data.values(), strict=True))
    return path


def _sentence(i: int) -> str:
    words = WORDS[sorted(WORDS)[i % 2]].split()
    return " ".join(words[(i + k) % len(words)] for k in range(3 + i % 4))


def split_of(texts: list[str]) -> TextSplit:
    return TextSplit(texts, np.zeros(len(texts), dtype=np.int64), np.arange(len(texts)))


def folder_of(root: Path, counts: dict[str, int]) -> Path:
    for label, count in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            (root / label / f"{i}.txt").write_text(f"{WORDS[label]} {i}", encoding="utf-8")
    return root


# --- the data steps -----------------------------------------------------------------


def test_text_csv_splits_ids_and_extras(tmp_path):
    file = texts_csv(tmp_path / "t.csv")
    step = TextCsv(str(file), target="label", id="id", extras=["length"], random_state=0)
    assert step.infer_task() == "classification"
    dataset = step.load()
    assert (dataset.modality, dataset.target) == ("text", "label")
    assert dataset.classes == ["food", "pets"]
    assert {n: len(s) for n, s in dataset.splits.items()} == {"train": 24, "val": 8, "test": 8}
    ids = [i for s in dataset.splits.values() for i in s.ids]
    assert sorted(ids) == sorted(f"r{i}" for i in range(40)), "every row in one split"
    train = dataset.splits["train"]
    assert train.extras.dtype == np.float32 and train.extras.shape == (24, 1)
    assert train.extra_names == ["length"]
    for text, label, row_id, length in zip(
        train.texts, train.y, train.ids, train.extras[:, 0], strict=True
    ):
        i = int(row_id[1:])
        assert text == _sentence(i) and length == len(text)
        assert dataset.classes[label] == sorted(WORDS)[i % 2]
    for name in ("val", "test"):
        assert np.bincount(dataset.splits[name].y).tolist() == [4, 4], "stratified"
    again = TextCsv(str(file), target="label", id="id", extras=["length"], random_state=0)
    assert again.load().fingerprint == dataset.fingerprint
    other = TextCsv(str(file), target="label", random_state=0).load()
    assert other.fingerprint != dataset.fingerprint, "the options count"


def test_text_csv_row_ids_joined_columns_kept_values_and_regression(tmp_path):
    file = texts_csv(tmp_path / "t.csv", title=["NA"] * 40, score=[i * 0.5 for i in range(40)])
    dataset = TextCsv(str(file), target="score", text=["title", "text"], random_state=0).load()
    assert dataset.task == "regression" and dataset.classes is None
    train = dataset.splits["train"]
    assert train.ids.dtype == np.int64, "the data rows' positions, as the csv step's"
    for text, row, y in zip(train.texts, train.ids, train.y, strict=True):
        assert text == f"NA {_sentence(row)}", "'NA' is a text, kept as written"
        assert y == row * 0.5


def test_text_folder_splits_and_ids(tmp_path):
    root = folder_of(tmp_path / "docs", {"pets": 10, "food": 10})
    (root / "README.md").write_text("not a text")  # beside the class folders: ignored
    (root / "pets" / ".hidden.txt").write_text("")
    dataset = TextFolder(str(root), random_state=0).load()
    assert dataset.classes == ["food", "pets"] and dataset.task == "classification"
    assert {n: len(s) for n, s in dataset.splits.items()} == {"train": 12, "val": 4, "test": 4}
    ids = sorted(i for s in dataset.splits.values() for i in s.ids)
    assert ids == sorted(f"{c}/{i}.txt" for c in ("food", "pets") for i in range(10))
    train = dataset.splits["train"]
    for text, label, name in zip(train.texts, train.y, train.ids, strict=True):
        assert text == (root / name).read_text() and name.startswith(dataset.classes[label])


def test_read_texts_for_predict(tmp_path):
    file = texts_csv(tmp_path / "new.csv", rows=5)
    split = read_texts(file, "text", ["length"])
    assert split.texts == [_sentence(i) for i in range(5)]
    assert split.ids.tolist() == [0, 1, 2, 3, 4] and split.extras.shape == (5, 1)
    assert read_texts(file, "text", [], id="id").ids.tolist() == [f"r{i}" for i in range(5)]
    with pytest.raises(UsageError, match=r"no column 'txt'.*\n.*did you mean 'text'"):
        read_texts(file, "txt", [])


def test_sample_text_topics_load():
    dataset = TextCsv(str(TOPICS), target="topic", id="id", random_state=0).load()
    assert len(dataset.classes) == 5
    assert sum(len(s) for s in dataset.splits.values()) == 3000
    assert TOPICS.stat().st_size < 400_000


# --- bad input: ConfigErrors naming the file, column or row ---------------------------


def test_missing_text_column_suggests_the_nearest(tmp_path):
    file = texts_csv(tmp_path / "t.csv")
    with pytest.raises(ConfigError) as error:
        TextCsv(str(file), target="label", text="txt").infer_task()
    assert error.value.problems[0].path == "data.text"
    assert (
        "no column 'txt'" in error.value.render() and "did you mean 'text'" in error.value.render()
    )


def test_invalid_utf8_names_the_row_column_and_byte_offset(tmp_path):
    file = texts_csv(tmp_path / "t.csv", rows=6)
    data = file.read_bytes()
    at = data.index(b"\n", data.index(b"\n") + 1) + 1  # data row 2 starts here
    spoilt = data[: at + 4] + b"\xff" + data[at + 4 :]
    file.write_bytes(spoilt)
    with pytest.raises(ConfigError) as error:
        TextCsv(str(file), target="label", text="text").infer_task()
    text = error.value.render()
    assert str(file) in text and f"byte offset {at + 4}" in text
    assert "data row 2 (column 'text')" in text and "0xff" in text


def test_text_folder_bad_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no class folders"):
        TextFolder(str(tmp_path / "empty")).infer_task()
    root = folder_of(tmp_path / "d", {"pets": 5, "food": 5})
    (root / "birds").mkdir()
    with pytest.raises(ConfigError, match=r"empty class folder: .*birds"):
        TextFolder(str(root)).infer_task()
    (root / "birds").rmdir()
    (root / "food" / "3.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(ConfigError) as error:
        TextFolder(str(root)).infer_task()
    assert f"{root / 'food' / '3.txt'} is not UTF-8: invalid byte 0xe9 at byte offset 3" in str(
        error.value
    )
    (root / "food" / "3.txt").write_text("  \n")
    with pytest.raises(ConfigError, match=r"1 empty text file\(s\) .*food/3.txt"):
        TextFolder(str(root)).infer_task()


BAD_CSV = {
    "missing column": (
        {"text": "txt"},
        None,
        ["data.text", "no column 'txt'", "did you mean 'text'"],
    ),
    "empty texts": (
        {},
        lambda rows: rows.update(text=["ok"] * 3 + ["", " "] + ["ok"] * 35),
        ["data.text", "2 empty text(s)", "data row(s) 4, 5"],
    ),
    "one class": (
        {},
        lambda rows: rows.update(label=["pets"] * 40),
        ["data.target", "single class"],
    ),
    "extras not numbers": (
        {"extras": ["length"]},
        lambda rows: rows.update(length=[1.0] * 6 + ["long"] + [1.0] * 33),
        ["data.extras", "extra column 'length'", "data row 7 is 'long'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CSV), ids=lambda c: c.replace(" ", "_"))
def test_validate_refuses_bad_text_csv(tmp_path, monkeypatch, case):
    from typer.testing import CliRunner

    from ednax.cli import app

    options, spoil, expected = BAD_CSV[case]
    rows = {"text": [_sentence(i) for i in range(40)]}
    if spoil:
        spoil(rows)
    file = texts_csv(tmp_path / "data" / "t.csv", **rows)
    data = {"type": "text_csv", "path": "data/t.csv", "target": "label", **options}
    config = _config(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate", config.name], env=WIDE)
    assert result.exit_code == 2, result.output
    for part in (str(file) if case != "one class" else "", *expected):
        assert part in result.output, result.output
    assert not (tmp_path / "runs").exists(), "no bundle"


@pytest.mark.parametrize(
    ("config", "override", "expected"),
    [
        ("text-topics.yaml", "model=mlp", "model.type: model 'mlp' is for tabular data"),
        ("iris-mlp.yaml", "model=embedding_bag", "model.type: model 'embedding_bag' reads token"),
        (
            "iris-mlp.yaml",
            "trainer.bucket_by_length=true",
            "trainer.bucket_by_length: bucket_by_length applies to text data",
        ),
    ],
)
def test_validate_refuses_a_model_or_batches_for_other_data(tmp_path, config, override, expected):
    result = run_cli("validate", SAMPLES / config, override, cwd=tmp_path)
    assert result.code == 2, result.text
    assert expected in result.err
    assert not (tmp_path / "runs").exists(), "no bundle"


def test_validate_refuses_an_empty_folder_and_a_csv_that_is_not_utf8(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ednax.cli import app

    root = folder_of(tmp_path / "docs", {"pets": 3, "food": 3})
    (root / "birds").mkdir()
    file = texts_csv(tmp_path / "t.csv", rows=10)
    file.write_bytes(file.read_bytes().replace(b"soup", b"so\xfcp", 1))
    offset = file.read_bytes().index(b"\xfc")
    monkeypatch.chdir(tmp_path)
    cases = [
        (
            {"type": "text_folder", "path": "docs"},
            ["data.path", f"empty class folder: {root}/birds"],
        ),
        (
            {"type": "text_csv", "path": "t.csv", "target": "label"},
            [f"{file} is not UTF-8, data row", "(column 'text')", f"byte offset {offset}"],
        ),
    ]
    for data, expected in cases:
        result = CliRunner().invoke(app, ["validate", _config(tmp_path, data).name], env=WIDE)
        assert result.exit_code == 2, result.output
        for part in expected:
            assert part in result.output, result.output
    assert not (tmp_path / "runs").exists(), "no bundle"


def test_real_cli_refuses_invalid_utf8_with_exit_2_and_no_bundle(tmp_path):
    root = folder_of(tmp_path / "docs", {"pets": 5, "food": 5})
    (root / "pets" / "2.txt").write_bytes("purr \u00e9".encode("latin-1"))
    config = _config(tmp_path, {"type": "text_folder", "path": "docs"})
    result = run_cli("run", config.name, cwd=tmp_path, timeout=120)
    assert result.code == 2, result.text
    assert f"{root / 'pets' / '2.txt'} is not UTF-8" in result.err
    assert "byte offset 5" in result.err and "Traceback" not in result.text
    assert not (tmp_path / "runs").exists(), "no bundle"


def test_validate_checks_the_tokenizer_steps(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ednax.cli import app

    texts_csv(tmp_path / "t.csv")
    monkeypatch.chdir(tmp_path)
    text_data = {"type": "text_csv", "path": "t.csv", "target": "label"}
    cases = [
        (text_data, [], ["preprocess: text data", "needs a tokenizer", "wordpiece"]),
        (text_data, [{"type": "wordpiece"}, {"type": "bpe"}], ["preprocess[1]", "one tokenizer"]),
        (text_data, [{"type": "standard_scaler"}], ["preprocess[0].type", "is for tabular data"]),
        (text_data, [{"type": "bpe", "max_length": 2}], ["preprocess[0].max_length", "3"]),
        (
            {"type": "sklearn_toy", "dataset": "iris"},
            [{"type": "wordpiece"}],
            ["preprocess[0].type", "'wordpiece' is for text data"],
        ),
    ]
    for data, preprocess, expected in cases:
        config = _config(tmp_path, data, preprocess)
        result = CliRunner().invoke(app, ["validate", config.name], env=WIDE)
        assert result.exit_code == 2, (preprocess, result.output)
        for part in expected:
            assert part in result.output, result.output


def _config(tmp_path: Path, data: dict, preprocess: list | None = None) -> Path:
    preprocess = [{"type": "wordpiece", "vocab_size": 200}] if preprocess is None else preprocess
    model = "embedding_bag" if data["type"].startswith("text") else "mlp"
    text = json.dumps(
        {
            "experiment": {"name": "texts", "seed": 0},
            "data": data,
            "preprocess": preprocess,
            "model": {"type": model},
            "trainer": {"type": "lightning", "max_epochs": 1},
        }
    )
    return write(tmp_path / "bad.yaml", text)


# --- tokenizers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TRAINED))
def test_tokenizer_fitted_on_train_only_a_test_only_word_is_unknown(name):
    train = split_of([_sentence(i) for i in range(30)])
    tokenizer = TRAINED[name](vocab_size=200, min_frequency=1).fit(train)
    fitted = tokenizer.fitted
    unk, cls, sep = (fitted.tokenizer.token_to_id(t) for t in ("[UNK]", "[CLS]", "[SEP]"))
    assert (tokenizer.vocabulary.pad_id, unk, cls, sep) == (0, 1, 2, 3)
    tokens = tokenizer.encode(split_of(["cat", "zyx", "Cat dog"]))
    assert isinstance(tokens, TokenSplit) and len(tokens) == 3
    known, unseen, two = (tokens.tokens(i).tolist() for i in range(3))
    assert known[0] == cls and known[-1] == sep and unk not in known
    assert unk in unseen, "z, y and x never occur in train: unknown to the tokenizer"
    assert two[1:-1] == tokenizer.encode(split_of(["cat dog"])).tokens(0).tolist()[1:-1], (
        "lowercased"
    )
    again = TRAINED[name](vocab_size=200, min_frequency=1).fit(train)
    assert again.fitted.artifacts() == fitted.artifacts(), "deterministic for the same data"


@pytest.mark.parametrize("side", ["right", "left"])
def test_truncation_keeps_the_special_tokens(side):
    train = split_of([_sentence(i) for i in range(30)])
    fitted = WordPiece(vocab_size=200, max_length=4, truncation_side=side).fit(train).fitted
    full = WordPiece(vocab_size=200).fit(train).fitted.encode(split_of(["cat dog purr bark"]))
    cut = fitted.encode(split_of(["cat dog purr bark"])).tokens(0).tolist()
    words = full.tokens(0).tolist()[1:-1]
    assert cut == [2, *(words[:2] if side == "right" else words[-2:]), 3]
    assert fitted.vocabulary.max_length == 4


def test_fitted_tokenizer_saved_as_json_and_loaded_back(tmp_path):
    train = split_of([_sentence(i) for i in range(30)])
    fitted = Unigram(vocab_size=100, max_length=8, truncation_side="left").fit(train).fitted
    fitted.save(tmp_path)
    assert json.loads((tmp_path / TOKENIZER_JSON).read_text())["model"]["type"] == "Unigram"
    loaded = load_fitted(tmp_path)
    assert loaded.vocabulary == fitted.vocabulary
    split = split_of([_sentence(i) * 3 for i in range(5)])
    assert loaded.encode(split).values.tolist() == fitted.encode(split).values.tolist()
    reused = HfTokenizer(str(tmp_path), max_length=8, truncation_side="left").fit(split)
    assert reused.vocabulary == fitted.vocabulary, "a run's artifacts folder as a saved tokenizer"
    assert reused.encode(split).values.tolist() == fitted.encode(split).values.tolist()
    (tmp_path / TOKENIZER_STATE).unlink()
    with pytest.raises(UsageError, match="fitted tokenizer is missing"):
        load_fitted(tmp_path)


def _saved_tokenizer(saved: Path):
    """A word-level tokenizer, saved as transformers saves one; the library's object."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    library = Tokenizer(models.WordLevel(unk_token="<unk>"))
    library.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    trainer = trainers.WordLevelTrainer(special_tokens=specials)
    library.train_from_iterator([_sentence(i) for i in range(20)], trainer)
    library.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    PreTrainedTokenizerFast(tokenizer_object=library, pad_token="<pad>").save_pretrained(saved)
    return library


def test_hf_tokenizer_from_a_locally_saved_folder(tmp_path):
    saved = tmp_path / "saved"
    library = _saved_tokenizer(saved)
    step = HfTokenizer(str(saved), max_length=4)
    assert step.problems() == []
    step.fit(split_of(["cat"]))
    tokens = step.encode(split_of(["cat dog purr bark", "zebra"]))
    cat, dog = library.token_to_id("cat"), library.token_to_id("dog")
    assert tokens.tokens(0).tolist() == [2, cat, dog, 3] and tokens.tokens(1).tolist() == [2, 1, 3]
    assert step.vocabulary.pad_id == 0 and step.vocabulary.size == library.get_vocab_size()
    config = json.loads((saved / "tokenizer_config.json").read_text())
    config.pop("pad_token")
    (saved / "tokenizer_config.json").write_text(json.dumps(config))
    assert [p.path for p in step.problems()] == ["pad_token"]
    assert HfTokenizer(str(saved), pad_token="<pad>").problems() == []
    assert [p.path for p in HfTokenizer(str(tmp_path)).problems()] == ["path"]


def test_hf_tokenizer_from_a_hub_id_reads_the_local_cache_and_says_when_it_is_not_there(
    tmp_path, monkeypatch
):
    from huggingface_hub import constants

    saved = tmp_path / "saved"
    _saved_tokenizer(saved)
    cache = tmp_path / "hub"
    repo = cache / "models--tiny-org--tiny-words"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in saved.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    from_hub = HfTokenizer(pretrained="tiny-org/tiny-words", max_length=4)
    assert from_hub.problems() == []
    from_hub.fit(split_of(["cat"]))
    from_folder = HfTokenizer(str(saved), max_length=4).fit(split_of(["cat"]))
    texts = split_of(["cat dog purr bark", "zebra"])
    assert from_hub.encode(texts).values.tolist() == from_folder.encode(texts).values.tolist()

    (problem,) = HfTokenizer(pretrained="tiny-org/elsewhere").problems()
    assert problem.path == "pretrained"
    assert "no tokenizer.json of hub model tiny-org/elsewhere in the local cache" in problem.message
    assert "HF_HUB_OFFLINE" in problem.hint
    (both,) = HfTokenizer(str(saved), pretrained="tiny-org/tiny-words").problems()
    assert "either path or pretrained" in both.message


# --- the engine: tokenized splits through the preprocessing cache -----------------------


def test_prepare_fits_on_train_encodes_every_split_and_caches(tmp_path):
    dataset = TextCsv(str(texts_csv(tmp_path / "t.csv")), target="label", random_state=0).load()
    steps = [{"type": "wordpiece", "vocab_size": 200, "max_length": 6}]
    cache = PreprocessCache(tmp_path / "cache")
    key = cache.key({"type": "text_csv"}, dataset.fingerprint, steps)
    first = prepare(dataset, steps, cache, key)
    assert not first.cached and first.dataset.vocabulary.max_length == 6
    for name, split in first.dataset.splits.items():
        assert isinstance(split, TokenSplit) and len(split) == len(dataset.splits[name])
        assert split.lengths.max() <= 6
        assert split.ids.tolist() == dataset.splits[name].ids.tolist()
    entry = cache.root / key
    assert (entry / TOKENIZER).is_file() and not (entry / PIPELINE).exists(), "JSON, no pickle"
    second = prepare(dataset, steps, cache, key)
    assert second.cached and second.dataset.vocabulary == first.dataset.vocabulary
    for name, split in second.dataset.splits.items():
        assert split.values.tolist() == first.dataset.splits[name].values.tolist()
        assert split.y.tolist() == dataset.splits[name].y.tolist()
    assert second.pipeline.artifacts() == first.pipeline.artifacts()
    (entry / TOKENIZER).write_text((entry / TOKENIZER).read_text().replace("[UNK]", "[UNX]"))
    preprocessing._RECENT.entries.clear()  # the next run, in another process
    third = prepare(dataset, steps, cache, key)
    assert not third.cached and "not signed" in third.note, "a changed entry is refused"


def test_kfold_pools_train_and_val_texts(tmp_path):
    from ednax.engine.evaluation import folds

    file = texts_csv(tmp_path / "t.csv")
    dataset = TextCsv(str(file), target="label", id="id", extras=["length"], random_state=0).load()
    evaluation = {"strategy": "stratified_kfold", "folds": 2, "shuffle": True, "random_state": 0}
    pooled = set(dataset.splits["train"].ids) | set(dataset.splits["val"].ids)
    for _name, fold in folds(dataset, evaluation):
        train, val = fold.splits["train"], fold.splits["val"]
        assert set(train.ids) | set(val.ids) == pooled and not set(train.ids) & set(val.ids)
        assert isinstance(val, TextSplit) and val.extras.shape == (len(val), 1)
        for text, row_id in zip(val.texts, val.ids, strict=True):
            assert text == _sentence(int(row_id[1:]))
        assert fold.splits["test"] is dataset.splits["test"]


def test_hf_tokenizer_files_are_part_of_the_cache_key(tmp_path):
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "tokenizer.json").write_text("{}")
    steps = [{"type": "hf_tokenizer", "path": str(saved), "max_length": 8}]
    cache = PreprocessCache(tmp_path / "cache")
    before = cache.key({}, "f", steps)
    assert cache.key({}, "f", steps) == before
    (saved / "tokenizer.json").write_text('{"changed": 1}')
    assert cache.key({}, "f", steps) != before


@pytest.mark.slow
def test_text_run_keeps_its_tokenizer_and_a_second_run_tokenizes_from_the_cache(tmp_path):
    texts_csv(tmp_path / "t.csv")
    config = write(
        tmp_path / "texts.yaml",
        "experiment: {name: texts, seed: 0}\n"
        "data: {type: text_csv, path: t.csv, target: label, id: id}\n"
        "preprocess: [{type: wordpiece, vocab_size: 200, max_length: 16}]\n"
        "model: {type: embedding_bag}\n"
        "trainer: {type: lightning, max_epochs: 1}\n",
    )
    first = run_cli("run", config.name, cwd=tmp_path, timeout=300)
    assert first.code == 0, first.text
    assert "preprocess: wordpiece (fit on train; vocabulary" in first.out
    artifacts = bundle_of(first, tmp_path) / "artifacts"
    fitted = load_fitted(artifacts)
    assert fitted.vocabulary.max_length == 16 and fitted.state["step"] == "wordpiece"
    assert not list(artifacts.glob("*.pkl")), "the tokenizer is JSON, not a pickle"
    schema = json.loads((artifacts / "data_schema.json").read_text())
    assert schema["modality"] == "text" and schema["classes"] == ["food", "pets"]
    second = run_cli("run", config.name, cwd=tmp_path, timeout=300)
    assert second.code == 0, second.text
    assert "preprocess: wordpiece (from the cache" in second.out
    again = bundle_of(second, tmp_path) / "artifacts"
    assert (again / TOKENIZER_JSON).read_text() == (artifacts / TOKENIZER_JSON).read_text()
