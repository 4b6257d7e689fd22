"""The image models (`resnet`, `convnext`, `vit`), `weights: pretrained` and `freeze`.

Tiny models on 16x16 images: logits for 1 and 3 channels, an export that another model
starts from with a new head, safetensors weights matched by name, and parameters frozen
for the first epochs of a real Lightning fit. Everything is offline.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import save_file

from ednax.errors import ConfigError
from ednax.signature import read_signature_statically
from ednax.steps.freeze import Freeze, select
from ednax.steps.images.backbones import ConvNext, ResNet, ViT
from ednax.steps.weights import Pretrained
from tests.torch_helpers import fit, sections

TINY = {
    ResNet: {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1]},
    ConvNext: {"hidden_sizes": [8, 16], "depths": [1, 1]},
    ViT: {
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "patch_size": 4,
    },
}
BACKBONES = list(TINY)


def tiny(cls, classes=3, channels=1, size=16, **options):
    torch.manual_seed(0)
    return cls(**TINY[cls], out_features=classes, input_shape=(channels, size, size), **options)


def head_free(state: dict) -> dict:
    return {k: v for k, v in state.items() if ".classifier." not in f".{k}"}


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("cls", BACKBONES, ids=lambda c: c.__name__)
def test_each_backbone_gives_logits_per_class(cls, channels):
    model = tiny(cls, classes=4, channels=channels)
    assert model(torch.randn(2, channels, 16, 16)).shape == (2, 4)
    assert model(torch.randn(2, channels * 16 * 16)).shape == (2, 4)  # flattened rows
    assert model.load_report is None
    groups = model.param_groups()
    names = [n for n, _ in model.named_parameters()]
    assert {"backbone", "head", "stem", "stage1"} <= set(groups)
    assert len(select(model, ["backbone"])) + len(select(model, ["head"])) == len(names)


def test_the_signatures_are_read_without_importing_the_classes():
    for target in ("images.backbones:ResNet", "images.backbones:ViT", "freeze:Freeze"):
        signature = read_signature_statically(f"ednax.steps.{target}")
        assert signature.params, target
    resnet = read_signature_statically("ednax.steps.images.backbones:ResNet").params
    assert resnet["layer_type"].default == "basic" and resnet["pretrained"].default is None


@pytest.mark.parametrize(
    ("cls", "options", "key"),
    [
        (ResNet, {"hidden_sizes": [8, 16], "depths": [1]}, "hidden_sizes"),
        (ConvNext, {"hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1]}, "hidden_sizes"),
        (ViT, {"hidden_size": 10, "num_attention_heads": 4}, "num_attention_heads"),
    ],
)
def test_sizes_that_do_not_fit_name_their_key(cls, options, key):
    with pytest.raises(ValueError, match=key):
        cls(**options, out_features=2, input_shape=(1, 16, 16))
    with pytest.raises(ValueError, match="image data"):
        cls(out_features=2, input_shape=None)


@pytest.mark.parametrize("cls", BACKBONES, ids=lambda c: c.__name__)
def test_an_export_starts_a_model_with_a_new_head(cls, tmp_path):
    trained = tiny(cls, classes=3, channels=1)
    trained.export_pretrained(tmp_path / "export")
    assert (tmp_path / "export" / "model.safetensors").is_file()

    model = tiny(cls, classes=5, channels=1, pretrained=str(tmp_path / "export"))
    assert "new head for 5 classes (the checkpoint had 3)" in model.load_report
    assert "classifier" in model.load_report
    saved, loaded = head_free(trained.state_dict()), head_free(model.state_dict())
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 5)
    # The 1-channel export also takes 3-channel images (averaged to one).
    rgb = tiny(cls, classes=3, channels=3, pretrained=str(tmp_path / "export"))
    assert "averaged" in rgb.load_report and "head loaded" in rgb.load_report
    assert rgb(torch.randn(2, 3, 16, 16)).shape == (2, 3)


def test_a_pretrained_vit_takes_another_image_size(tmp_path):
    tiny(ViT, channels=3).export_pretrained(tmp_path / "vit")
    model = tiny(ViT, channels=1, size=32, pretrained=str(tmp_path / "vit"))
    assert "interpolated from 16x16 to 32x32" in model.load_report
    assert "repeated" in model.load_report
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)


def test_a_pretrained_source_that_is_not_there_is_a_config_error(tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="no directory") as caught:
        tiny(ResNet, pretrained=missing)
    assert caught.value.problems[0].path == "model.pretrained"
    assert caught.value.problems[0].hint
    with pytest.raises(ConfigError, match="local cache") as caught:
        tiny(ResNet, pretrained="ednax-tests/no-such-model")
    assert caught.value.problems[0].path == "model.pretrained"
    assert "HF_HUB_OFFLINE" in caught.value.problems[0].hint
    tiny(ViT).export_pretrained(tmp_path / "vit")
    with pytest.raises(ConfigError, match="holds a vit model, not a resnet"):
        tiny(ResNet, pretrained=str(tmp_path / "vit"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="cannot load") as caught:
        tiny(ResNet, pretrained=str(tmp_path / "empty"))
    assert caught.value.problems[0].path == "model.pretrained"


def test_pretrained_weights_from_a_directory_report_the_mismatched_head(tmp_path):
    trained = tiny(ResNet, classes=3)
    trained.export_pretrained(tmp_path / "export")
    model = tiny(ResNet, classes=5)
    note = Pretrained(path=str(tmp_path / "export")).apply(model)
    assert "names with 'model.' added" in note
    assert "mismatched 2, kept fresh: model.classifier.1.weight (file [3, 16], model [5, 16])" in (
        note
    )
    assert "missing" not in note and "skipped" not in note
    saved, loaded = head_free(trained.state_dict()), head_free(model.state_dict())
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_pretrained_weights_from_a_file(tmp_path):
    source = tiny(ConvNext, classes=3)
    # As a Lightning checkpoint names them (the train loop holds the model as `model`).
    state = {f"model.{k}": v.contiguous() for k, v in source.state_dict().items()}
    state["model.extra.weight"] = torch.zeros(2)
    save_file(state, tmp_path / "weights.safetensors")
    model = tiny(ConvNext, classes=3, channels=1)
    note = Pretrained(path=str(tmp_path / "weights.safetensors")).apply(model)
    assert note.startswith(f"weights: loaded {len(state) - 1} tensors")
    assert "'model.' removed" in note
    assert "skipped 1, not in the model: extra.weight" in note
    assert "missing" not in note
    assert torch.equal(
        model.model.convnext.embeddings.patch_embeddings.weight,
        source.model.convnext.embeddings.patch_embeddings.weight,
    )


def test_pretrained_weights_that_are_not_safetensors_are_config_errors(tmp_path):
    model = tiny(ResNet)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "folder").mkdir()
    cases = {
        tmp_path / "none.safetensors": "no file or directory",
        tmp_path / "weights.pt": "not a safetensors file",
        tmp_path / "folder": "no model.safetensors",
    }
    for path, message in cases.items():
        with pytest.raises(ConfigError, match=message) as caught:
            Pretrained(path=str(path)).apply(model)
        assert caught.value.problems[0].path == "weights.path"
    save_file({"other": torch.zeros(3)}, tmp_path / "other.safetensors")
    with pytest.raises(ConfigError, match="none of the 1 tensors"):
        Pretrained(path=str(tmp_path / "other.safetensors")).apply(model)


def test_freeze_names_the_groups_when_one_is_unknown():
    model = tiny(ResNet)
    with pytest.raises(ConfigError) as caught:
        select(model, ["backbone", "bakcbone"])
    problem = caught.value.problems[0]
    assert "bakcbone" in problem.message and problem.path == "callbacks"
    assert "backbone, head, stem, stage1, stage2" in problem.hint
    assert select(model, ["head"]) == ["model.classifier.1.weight", "model.classifier.1.bias"]


def test_freeze_follows_the_epoch_number_so_a_resumed_run_freezes_alike():
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3))
    module = SimpleNamespace(model=mlp, epoch_scores={})
    freeze = Freeze(params=["0"], epochs=2)
    freeze.setup(SimpleNamespace(strategy=None), module, "fit")
    for epoch, frozen in [(1, True), (3, False), (0, True), (2, False)]:
        freeze.on_train_epoch_start(SimpleNamespace(current_epoch=epoch), module)
        assert mlp[0].weight.requires_grad is not frozen and mlp[1].weight.requires_grad
        freeze.on_train_epoch_end(SimpleNamespace(current_epoch=epoch), module)
        assert module.epoch_scores["frozen_params"] == (2 if frozen else 0)
    with pytest.raises(ConfigError, match="every trained parameter"):
        Freeze(params=["0", "1"]).setup(SimpleNamespace(strategy=None), module, "fit")


class Snapshots(pl.Callback):
    """The first layer's weight at the start of the fit and after each epoch."""

    def __init__(self):
        self.taken: list[torch.Tensor] = []

    def on_train_start(self, trainer, pl_module):
        self.taken.append(pl_module.model.net[0].weight.detach().clone())

    def on_train_epoch_end(self, trainer, pl_module):
        self.taken.append(pl_module.model.net[0].weight.detach().clone())


def test_frozen_parameters_change_only_after_their_epochs(tmp_path):
    steps = sections(max_epochs=4)
    steps["optimizer"] = {"type": "adamw", "lr": 0.05, "weight_decay": 0.1}
    steps["scheduler"] = {"type": "none"}
    steps["callbacks"] = [{"type": "freeze", "params": ["net.0"], "epochs": 2}]
    snapshots = Snapshots()
    result = fit(tmp_path, steps, callbacks=[snapshots])
    first, *after = snapshots.taken
    assert [torch.equal(first, w) for w in after] == [True, True, False, False]
    assert [row["frozen_params"] for row in result.history] == [2.0, 2.0, 0.0, 0.0]
