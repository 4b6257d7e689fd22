"""The text models (`embedding_bag`, `text_cnn`, `bert`, `distilbert`) and padded token
batches.

Tiny models on random token ids: outputs per class, padding that never changes a masked
model's outputs, the two poolings, a pretrained round trip through a directory saved
here (head replaced when the classes differ), parameter groups for `freeze`, and the
batches' dynamic padding, length buckets and seeded order. Everything is offline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ednax.engine.lightning.loader import TokenBatches
from ednax.engine.lightning.module import EdnaxModule
from ednax.errors import ConfigError
from ednax.signature import read_signature_statically
from ednax.steps.freeze import select
from ednax.steps.text.models import Bert, DistilBert, EmbeddingBag, TextCNN
from ednax.steps.text.tokens import TextSplit, TokenSplit
from ednax.steps.weights import Pretrained

VOCAB, PAD = 60, 0
ENCODER = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32}
TINY = {
    EmbeddingBag: {"embed_dim": 8},
    TextCNN: {"embed_dim": 8, "kernel_sizes": [2, 3], "channels": 4},
    Bert: ENCODER,
    DistilBert: ENCODER,
}
MODELS = list(TINY)


def tiny(cls, classes=3, **options):
    torch.manual_seed(0)
    sizes = {"vocab_size": VOCAB, "pad_id": PAD, "out_features": classes}
    if cls in (Bert, DistilBert):
        sizes["max_length"] = 24
    return cls(**{**TINY[cls], **sizes, **options}).eval()


def padded(lengths: list[int], width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), width), generator=generator)
    mask = torch.arange(width) < torch.tensor(lengths).unsqueeze(1)
    return ids.masked_fill(~mask, PAD), mask.long()


def token_split(lengths: list[int], seed: int = 0, classes: int = 3) -> TokenSplit:
    rng = np.random.default_rng(seed)
    tokens = [rng.integers(1, VOCAB, n).tolist() for n in lengths]
    n = len(lengths)
    texts = TextSplit([""] * n, np.arange(n) % classes, np.arange(n))
    return TokenSplit.of(tokens, texts)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# --- the models -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (EmbeddingBag, {}),
        (TextCNN, {}),
        *((cls, {"pooling": p}) for cls in (Bert, DistilBert) for p in ("cls", "mean")),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v.get("pooling", "-"),
)
def test_padding_never_changes_a_models_outputs(cls, options):
    model = tiny(cls, classes=4, **options)
    lengths = [7, 3, 5, 1]
    ids, mask = padded(lengths, 7)
    out = model(ids, mask)
    assert out.shape == (4, 4) and torch.isfinite(out).all()
    wider = torch.cat([ids, torch.full((4, 9), PAD)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros(4, 9, dtype=torch.long)], dim=1)
    assert torch.allclose(model(wider, wider_mask), out, atol=1e-5)
    alone = model(ids[1:2, :3], mask[1:2, :3])  # one text, no padding at all
    assert torch.allclose(alone, out[1:2], atol=1e-5)
    assert torch.allclose(model(ids), out, atol=1e-5)  # no mask: the pad ids are padding


def test_masked_positions_are_left_out_whatever_ids_they_hold():
    model = tiny(TextCNN)
    ids, mask = padded([4, 2], 6)
    noise = torch.where(mask.bool(), ids, torch.randint(1, VOCAB, ids.shape))
    assert torch.allclose(model(noise, mask), model(ids, mask), atol=1e-6)


def test_embedding_bag_is_the_mean_of_the_texts_token_embeddings():
    model = tiny(EmbeddingBag, classes=2)
    ids, mask = padded([5, 2], 5)
    table = model.embedding.weight
    means = torch.stack([table[ids[i, : int(mask[i].sum())]].mean(dim=0) for i in range(2)])
    assert torch.allclose(model(ids, mask), model.head(means), atol=1e-6)


def test_mean_pooling_averages_the_encoders_states_over_the_mask(tmp_path):
    model = tiny(Bert, pooling="mean")
    assert model.model.bert.pooler is None  # unused with mean pooling: dropped
    ids, mask = padded([6, 3], 6)
    hidden = model.model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    means = torch.stack([hidden[i, : int(mask[i].sum())].mean(dim=0) for i in range(2)])
    assert torch.allclose(model(ids, mask), model.model.classifier(means), atol=1e-5)
    cls_pooled = tiny(Bert, pooling="cls")
    assert not torch.allclose(cls_pooled(ids, mask), model(ids, mask))
    again = tiny(Bert, pooling="mean", pretrained=str(model.export_pretrained(tmp_path / "m")))
    assert "not in the checkpoint" not in again.load_report  # the pooler it has no use for
    assert torch.allclose(again(ids, mask), model(ids, mask), atol=1e-5)


def test_extra_columns_join_the_text_features_before_the_head():
    model = tiny(EmbeddingBag, in_features=2)
    ids, mask = padded([3, 2], 3)
    extras = torch.tensor([[0.0, 1.0], [5.0, -2.0]])
    out = model(ids, mask, extras)
    assert out.shape == (2, 3)
    assert not torch.allclose(out, model(ids, mask, extras * 0))
    with pytest.raises(ValueError, match="2 extra columns"):
        model(ids, mask)
    encoder = tiny(Bert, in_features=2)
    assert encoder(ids, mask, extras).shape == (2, 3)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_param_groups_split_every_parameter_into_backbone_and_head(cls):
    model = tiny(cls)
    groups = model.param_groups()
    names = [n for n, _ in model.named_parameters()]
    backbone, head = select(model, ["backbone"]), select(model, ["head"])
    assert sorted(backbone + head) == sorted(names) and not set(backbone) & set(head)
    if cls in (Bert, DistilBert):
        assert {"embeddings", "layer1", "layer2"} <= set(groups)
        assert select(model, ["layer2"]) and all(".1." in n for n in select(model, ["layer2"]))


def test_a_model_without_text_data_is_refused():
    with pytest.raises(ValueError, match="needs text data"):
        EmbeddingBag(out_features=2)
    with pytest.raises(ValueError, match="num_heads 3 must divide hidden_size 16"):
        tiny(Bert, num_heads=3)


def test_the_signatures_are_read_without_importing_the_classes():
    bert = read_signature_statically("ednax.steps.text.models:Bert").params
    assert bert["pooling"].default == "cls" and bert["pretrained"].default is None
    bag = read_signature_statically("ednax.steps.text.models:EmbeddingBag").params
    assert bag["embed_dim"].default == 64


# --- pretrained -----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Bert, DistilBert], ids=lambda c: c.__name__)
def test_an_exported_encoder_starts_another_model_with_a_new_head(cls, tmp_path):
    trained = tiny(cls, classes=3)
    folder = trained.export_pretrained(tmp_path / "pretrained")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors"}

    same = cls(vocab_size=VOCAB, pad_id=PAD, max_length=24, out_features=3, pretrained=str(folder))
    ids, mask = padded([5, 2], 5)
    assert torch.allclose(same.eval()(ids, mask), trained(ids, mask), atol=1e-5)
    assert "head loaded (3 classes" in same.load_report

    other = cls(
        vocab_size=VOCAB, pad_id=PAD, max_length=24, out_features=5, pretrained=str(folder)
    ).eval()
    assert f"model: {cls.name} from {folder}" in other.load_report
    assert "new head for 5 classes (the checkpoint had 3)" in other.load_report
    assert other(ids, mask).shape == (2, 5)
    base = trained.model.base_model_prefix
    encoder = {k: v for k, v in trained.state_dict().items() if k.startswith(f"model.{base}.")}
    loaded = other.state_dict()
    assert encoder and all(torch.equal(loaded[k], v) for k, v in encoder.items())


def test_a_checkpoints_sizes_decide_and_the_report_says_so(tmp_path):
    folder = tiny(Bert).export_pretrained(tmp_path / "bert")
    model = Bert(
        **{**ENCODER, "hidden_size": 64},
        vocab_size=VOCAB,
        out_features=3,
        max_length=24,
        pretrained=str(folder),
    )
    assert model.model.config.hidden_size == 16
    assert "architecture from the checkpoint" in model.load_report and "hidden_size 64" in (
        model.load_report
    )


def test_a_transformers_model_saved_by_transformers_is_loaded(tmp_path):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(
        vocab_size=VOCAB, dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=32
    )
    DistilBertForSequenceClassification(config).save_pretrained(tmp_path / "hf")
    model = DistilBert(
        vocab_size=VOCAB, out_features=4, max_length=24, pretrained=str(tmp_path / "hf")
    )
    assert model.model.config.n_layers == 1 and "new head for 4 classes" in model.load_report


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"vocab_size": VOCAB + 10}, "embeds only 60"),
        ({"max_length": 64}, "positions for 24"),
    ],
)
def test_a_checkpoint_that_cannot_take_the_datas_tokens_is_a_config_error(tmp_path, options, words):
    folder = tiny(Bert).export_pretrained(tmp_path / "bert")
    sizes = {"vocab_size": VOCAB, "max_length": 24, "out_features": 3, **options}
    with pytest.raises(ConfigError) as caught:
        Bert(pretrained=str(folder), **sizes)
    assert words in caught.value.render() and "model.pretrained" in caught.value.render()


def test_a_checkpoint_of_another_model_type_is_refused(tmp_path):
    folder = tiny(Bert).export_pretrained(tmp_path / "bert")
    with pytest.raises(ConfigError, match="holds a bert model, not a distilbert one"):
        DistilBert(vocab_size=VOCAB, max_length=24, out_features=3, pretrained=str(folder))


def test_weights_pretrained_loads_an_export_by_name(tmp_path):
    folder = tiny(DistilBert).export_pretrained(tmp_path / "export")
    model = tiny(DistilBert, classes=3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    note = Pretrained(path=str(folder)).apply(model)
    assert "weights: loaded" in note and "mismatched" not in note
    assert torch.allclose(
        model.state_dict()["model.classifier.weight"],
        tiny(DistilBert).state_dict()["model.classifier.weight"],
    )


# --- the train loop and batches -------------------------------------------------------


class _HFLike(nn.Module):
    """A user's own text model: keyword inputs, an output with logits."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 3)

    def forward(self, input_ids, attention_mask):
        from types import SimpleNamespace

        weights = attention_mask.unsqueeze(2).float()
        logits = (self.embedding(input_ids) * weights).sum(1) / weights.sum(1)
        return SimpleNamespace(logits=logits)


def test_the_train_loop_passes_a_text_batch_as_keyword_arguments():
    module = EdnaxModule(
        model=_HFLike(),
        loss=nn.CrossEntropyLoss(),
        optimizer=None,
        schedule=None,
        metrics={},
        task="classification",
    )
    batches = TokenBatches(token_split([4, 2, 6]), "classification", pad_id=PAD, batch_size=2)
    inputs, y = next(iter(batches))
    assert module(inputs).shape == (2, 3) and y.tolist() == [0, 1]
    assert module.outputs_of(x for x, _ in batches).shape == (3, 3)


def test_each_batch_is_padded_to_its_own_longest_text():
    lengths = [3, 9, 2, 2, 5]
    split = token_split(lengths)
    batches = TokenBatches(split, "classification", pad_id=PAD, batch_size=2)
    shapes = [tuple(x["input_ids"].shape) for x, _ in batches]
    assert shapes == [(2, 9), (2, 2), (1, 5)]
    (x, _), *_ = batches
    assert x["attention_mask"].sum(dim=1).tolist() == [3, 9]
    assert x["input_ids"][0, :3].tolist() == split.tokens(0).tolist()
    assert (x["input_ids"][0, 3:] == PAD).all()
    fixed = TokenBatches(split, "classification", pad_id=PAD, batch_size=2, pad_to=12)
    assert {tuple(x["input_ids"].shape)[1] for x, _ in fixed} == {12}


def _epoch(batches: TokenBatches) -> list[list[int]]:
    return [x["input_ids"][:, 0].tolist() for x, _ in batches]


def test_the_same_seed_and_epoch_give_the_same_batches():
    split = token_split(list(np.random.default_rng(1).integers(1, 30, 200)))
    epoch = {"n": 0}

    def batcher(seed: int, **options) -> TokenBatches:
        return TokenBatches(
            split,
            "classification",
            pad_id=PAD,
            batch_size=8,
            shuffle=True,
            seed=seed,
            epoch_of=lambda: epoch["n"],
            **options,
        )

    for options in ({}, {"bucket_by_length": True}):
        epoch["n"] = 2
        second = _epoch(batcher(3, **options))
        assert second == _epoch(batcher(3, **options))  # a resumed run's epoch 2 is epoch 2
        epoch["n"] = 3
        assert _epoch(batcher(3, **options)) != second
        assert _epoch(batcher(3, **options)) != _epoch(batcher(4, **options))


def test_length_buckets_hold_texts_of_similar_length_and_every_row_once():
    lengths = list(np.random.default_rng(2).integers(1, 64, 1000))
    split = token_split(lengths, classes=1000)  # targets: the row numbers
    plain, bucketed = (
        TokenBatches(
            split,
            "classification",
            pad_id=PAD,
            batch_size=10,
            shuffle=True,
            seed=0,
            bucket_by_length=bucket,
        )
        for bucket in (False, True)
    )
    cells = {
        name: sum(x["input_ids"].numel() for x, _ in b)
        for name, b in (("plain", plain), ("bucketed", bucketed))
    }
    assert cells["bucketed"] < 0.7 * cells["plain"]
    seen = sorted(int(y) for _, batch in bucketed for y in batch)
    assert seen == list(range(1000))


def test_processes_share_each_global_batch():
    split = token_split([3] * 21)
    shares = [
        TokenBatches(
            split,
            "classification",
            pad_id=PAD,
            batch_size=4,
            shuffle=True,
            seed=5,
            world_size=2,
            rank_of=lambda r=rank: r,
        )
        for rank in (0, 1)
    ]
    assert len(shares[0]) == 3
    targets = [[y.tolist() for _, y in batches] for batches in shares]
    assert [len(t) for t in targets[0]] == [4, 4, 3] and [len(t) for t in targets[1]] == [4, 4, 2]


def test_evaluation_order_is_restored():
    split = token_split([5, 1, 9, 3])
    batches = TokenBatches(split, "classification", pad_id=PAD, batch_size=2, by_length=True)
    firsts = torch.cat([x["attention_mask"].sum(dim=1) for x, _ in batches])
    assert firsts.tolist() == [1, 3, 5, 9]
    assert batches.restore(firsts.unsqueeze(1)).squeeze(1).tolist() == [5, 1, 9, 3]


def test_bucketing_without_shuffling_is_a_problem_of_the_trainer():
    from ednax.steps.trainers_torch import Lightning

    (problem,) = Lightning(bucket_by_length=True, shuffle=False).problems()
    assert problem.path == "trainer.bucket_by_length" and "shuffle" in problem.message
    assert Lightning(bucket_by_length=True).problems() == []
