"""The image data steps: folder layouts, CSV listings, splits, decoding sizes and channels,
and every bad input reported as a ConfigError naming the file, before any work."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ednax.errors import ConfigError
from ednax.steps.images import data as image_data
from ednax.steps.images import files as files_module
from ednax.steps.images.data import ImageCsv, ImageFolder
from tests.conftest import SAMPLES, run_cli, write


def png(path: Path, height: int = 8, width: int = 8, value: int = 0, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(height * width).reshape(height, width) + value) % 256
    image = Image.fromarray(pixels.astype(np.uint8))
    image.convert(mode).save(path)
    return path


def class_tree(root: Path, counts: dict[str, int], **image) -> Path:
    for label, count in counts.items():
        for i in range(count):
            png(root / label / f"{i}.png", value=i, **image)
    return root


def message(error: pytest.ExceptionInfo) -> str:
    return error.value.render()


def test_class_folders_split_by_fractions_stratified(tmp_path):
    root = class_tree(tmp_path / "pets", {"cat": 10, "ant": 10, "bee": 10})
    dataset = ImageFolder(str(root), random_state=0).load()
    assert dataset.classes == ["ant", "bee", "cat"]
    assert (dataset.task, dataset.modality, dataset.target) == ("classification", "image", "label")
    assert dataset.feature_names == [] and dataset.sources == [str(root)]
    assert dataset.input_shape == (3, 8, 8)
    assert {name: len(split) for name, split in dataset.splits.items()} == {
        "train": 18,
        "val": 6,
        "test": 6,
    }
    for name in ("val", "test"):
        assert np.bincount(dataset.splits[name].y).tolist() == [2, 2, 2]
    ids = [str(i) for split in dataset.splits.values() for i in split.ids]
    assert len(ids) == len(set(ids)) == 30, "every file in exactly one split"
    assert "cat/3.png" in ids
    train = dataset.splits["train"]
    for file, label, name in zip(train.files, train.y, train.ids, strict=True):
        assert file == root / name and name.split("/")[0] == dataset.classes[label]


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 10, "b": 10})

    def test_ids(seed: int) -> set[str]:
        return set(ImageFolder(str(root), random_state=seed).load().splits["test"].ids)

    assert test_ids(0) == test_ids(0)
    assert test_ids(0) != test_ids(1)


def test_train_val_test_folders_are_the_splits(tmp_path):
    root = tmp_path / "d"
    class_tree(root / "train", {"a": 3, "b": 2})
    class_tree(root / "val", {"a": 1, "b": 1})
    class_tree(root / "test", {"b": 2})
    step = ImageFolder(str(root), val=0.5, test=0.3)  # fractions are ignored
    assert step.infer_task() == "classification"
    dataset = step.load()
    assert dataset.classes == ["a", "b"]
    splits = {name: sorted(split.ids) for name, split in dataset.splits.items()}
    assert splits["test"] == ["test/b/0.png", "test/b/1.png"]
    assert splits["val"] == ["val/a/0.png", "val/b/0.png"]
    assert len(splits["train"]) == 5
    assert dataset.splits["test"].y.tolist() == [1, 1]


def test_train_folder_alone_has_no_val_or_test(tmp_path):
    class_tree(tmp_path / "d" / "train", {"a": 2, "b": 2})
    assert set(ImageFolder(str(tmp_path / "d")).load().splits) == {"train"}


def test_class_in_val_but_not_in_train_is_an_error(tmp_path):
    root = tmp_path / "d"
    class_tree(root / "train", {"cat": 2, "dog": 2})
    class_tree(root / "val", {"cta": 1})
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(root)).infer_task()
    assert "cta" in message(error) and "did you mean 'cat'" in message(error)


def test_input_shape_is_the_images_size(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5}, height=5, width=7)
    dataset = ImageFolder(str(root), random_state=0).load()
    assert dataset.input_shape == (3, 5, 7)
    assert dataset.splits["train"].X.shape == (6, 3, 5, 7)


def test_size_resizes_on_decode_even_mixed_sizes(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5}, height=8, width=8)
    class_tree(root, {"b": 5}, height=12, width=10)
    dataset = ImageFolder(str(root), size=[6, 4], random_state=0).load()
    assert dataset.input_shape == (3, 6, 4)
    assert dataset.splits["val"].X.shape == (2, 3, 6, 4)
    square = ImageFolder(str(root), size=5, random_state=0).load()
    assert square.input_shape == (3, 5, 5)


@pytest.mark.parametrize("side", [8, 128], ids=["small-in-one-thread", "large-in-threads"])
def test_every_image_is_decoded_in_its_row(tmp_path, monkeypatch, side):
    monkeypatch.setattr(files_module, "_CHUNK", 2)  # several runs of files, as on real data
    root = class_tree(tmp_path / "d", {"a": 7, "b": 6}, height=side, width=side)
    split = ImageFolder(str(root), val=0, test=0, random_state=0).load().splits["train"]
    expected = np.stack([files_module.decode(f, 3, (side, side)) for f in split.files])
    assert np.array_equal(split.X, expected)


def test_channels_one_is_grayscale_three_is_rgb(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5}, mode="RGB")
    gray = ImageFolder(str(root), channels=1, random_state=0).load()
    rgb = ImageFolder(str(root), channels=3, random_state=0).load()
    assert gray.input_shape == (1, 8, 8) and rgb.input_shape == (3, 8, 8)
    assert gray.splits["test"].X.shape[1] == 1 and rgb.splits["test"].X.shape[1] == 3
    first = rgb.splits["test"].files[0]
    expected = np.asarray(Image.open(first).convert("L"))
    assert np.array_equal(gray.splits["test"].read(0)[0], expected)


def test_hidden_files_are_ignored(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    (root / "a" / ".DS_Store").write_text("x")
    (root / ".cache").mkdir()
    (root / "README.md").write_text("beside the class folders")
    dataset = ImageFolder(str(root), random_state=0).load()
    assert dataset.classes == ["a", "b"]
    assert sum(len(s) for s in dataset.splits.values()) == 10


def test_fingerprint_follows_the_bytes(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    before = ImageFolder(str(root), random_state=0).load().fingerprint
    assert ImageFolder(str(root), random_state=1).load().fingerprint == before
    png(root / "a" / "0.png", value=99)
    assert ImageFolder(str(root), random_state=0).load().fingerprint != before


def test_headers_are_read_once_per_version_of_the_files(tmp_path, monkeypatch):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    reads = []
    real = image_data.header_sizes

    def counted(listing):
        reads.append(listing)
        return real(listing)

    monkeypatch.setattr(image_data, "header_sizes", counted)
    for seed in (0, 1):
        ImageFolder(str(root), random_state=seed).infer_task()
    ImageFolder(str(root), random_state=0).load()
    assert len(reads) == 1
    png(root / "b" / "9.png", height=9)  # a new file of another size: checked again
    with pytest.raises(ConfigError, match="differ in size"):
        ImageFolder(str(root)).infer_task()
    assert len(reads) == 2


def test_image_csv_paths_relative_to_the_csv(tmp_path, monkeypatch):
    folder = tmp_path / "set"
    for i in range(6):
        png(folder / "img" / f"{i}.png", value=i)
    rows = [f"img/{i}.png,{'dog' if i % 2 else 'cat'},extra" for i in range(6)]
    write(folder / "labels.csv", "file,kind,note\n" + "\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    step = ImageCsv("set/labels.csv", image="file", target="kind", val=0, test=0.5)
    assert step.infer_task() == "classification"
    dataset = step.load()
    assert dataset.classes == ["cat", "dog"] and dataset.target == "kind"
    assert dataset.sources == [str(folder / "labels.csv")]
    test = dataset.splits["test"]
    assert len(test) == 3 and set(test.y.tolist()) == {0, 1}
    assert all(f == folder / i for f, i in zip(test.files, test.ids, strict=True))
    assert set(dataset.splits) == {"train", "test"}


@pytest.fixture
def csv_set(tmp_path):
    def make(cells: list[str]) -> ImageCsv:
        for i in range(4):
            png(tmp_path / f"{i}.png")
        labels = ["a", "b", "a", "b"]
        lines = [f"{cell},{label}" for cell, label in zip(cells, labels, strict=True)]
        write(tmp_path / "set.csv", "path,label\n" + "\n".join(lines) + "\n")
        return ImageCsv(str(tmp_path / "set.csv"), val=0, test=0)

    return make


def test_image_csv_missing_file_names_its_row(csv_set):
    with pytest.raises(ConfigError) as error:
        csv_set(["0.png", "1.png", "gone.png", "3.png"]).infer_task()
    assert "data row 3" in message(error) and "gone.png" in message(error)


def test_image_csv_empty_cell_names_its_row(csv_set):
    with pytest.raises(ConfigError) as error:
        csv_set(["0.png", "", "2.png", "3.png"]).infer_task()
    assert "data rows: 2" in message(error) and error.value.problems[0].path == "data.image"


def test_image_csv_file_named_twice_is_an_error(csv_set):
    with pytest.raises(ConfigError, match="data rows 1 and 3 name the same image"):
        csv_set(["0.png", "1.png", "0.png", "3.png"]).infer_task()


def corrupt_image(root: Path) -> str:
    (root / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    return "broken.png"


def non_image_file(root: Path) -> str:
    (root / "b" / "notes.txt").write_text("not a picture")
    return "notes.txt"


def empty_class_folder(root: Path) -> str:
    (root / "zebra").mkdir()
    return "zebra"


def mixed_sizes(root: Path) -> str:
    png(root / "b" / "wide.png", height=8, width=12)
    return "wide.png"


BAD_INPUTS = [corrupt_image, non_image_file, empty_class_folder, mixed_sizes]


@pytest.mark.parametrize("spoil", BAD_INPUTS, ids=lambda f: f.__name__)
def test_bad_input_is_a_config_error_naming_the_file(tmp_path, spoil):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    name = spoil(root)
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(root)).infer_task()
    assert name in message(error)
    assert error.value.problems[0].path in ("data.path", "data.size")


def test_mixed_sizes_name_two_files_their_sizes_and_data_size(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    mixed_sizes(root)
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(root)).infer_task()
    problem = error.value.problems[0]
    assert problem.path == "data.size" and "data.size" in problem.hint
    assert "a/0.png is 8x8" in problem.message and "wide.png is 8x12" in problem.message


def test_missing_folder(tmp_path):
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(tmp_path / "nowhere")).infer_task()
    assert "not found" in message(error) and "nowhere" in message(error)


def test_no_class_folders_and_a_single_class(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no class folders"):
        ImageFolder(str(tmp_path / "empty")).infer_task()
    class_tree(tmp_path / "one", {"only": 4})
    with pytest.raises(ConfigError, match="single class"):
        ImageFolder(str(tmp_path / "one")).infer_task()


def test_fractions_that_leave_a_split_empty(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 2, "b": 2})
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(root), val=0.25, test=0.25).infer_task()
    assert error.value.problems[0].path == "data.test"
    ImageFolder(str(root), val=0, test=0.5).infer_task()  # 2 and 2: one per class each side


def test_load_checks_without_infer_task_first(tmp_path):
    root = class_tree(tmp_path / "d", {"a": 5, "b": 5})
    non_image_file(root)
    with pytest.raises(ConfigError) as error:
        ImageFolder(str(root)).load()
    assert "notes.txt" in message(error)


@pytest.mark.parametrize("spoil", [corrupt_image, non_image_file], ids=lambda f: f.__name__)
def test_validate_rejects_bad_image_data(tmp_path, spoil):
    root = class_tree(tmp_path / "images", {"a": 5, "b": 5})
    name = spoil(root)
    config = write(
        tmp_path / "bad.yaml",
        "experiment: {name: images, seed: 0}\n"
        "data: {type: image_folder, path: images, channels: 1}\n"
        "preprocess: []\n"
        "model: {type: cnn}\n"
        "trainer: {type: lightning, max_epochs: 1}\n",
    )
    result = run_cli("validate", config.name, cwd=tmp_path, timeout=120)
    assert result.code == 2, result.text
    assert name in result.err and "data.path" in result.err
    assert "Traceback" not in result.text


def test_sample_digits_images_load():
    folder = SAMPLES / "data" / "digits-images"
    dataset = ImageFolder(str(folder), channels=1, random_state=0).load()
    assert dataset.classes == [str(d) for d in range(10)]
    assert dataset.input_shape == (1, 16, 16)
    assert sum(len(split) for split in dataset.splits.values()) == 1000
    assert os.path.getsize(folder / "0" / "0000.png") < 1000
