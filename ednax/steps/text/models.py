"""Text models: `embedding_bag`, `text_cnn`, and the transformer encoders `bert` and
`distilbert` (from transformers' configs), new or pretrained.

Every model maps a batch of token ids padded to the batch's longest text, `input_ids`
(n, L) with its `attention_mask` (n, L; true or 1 on the text's tokens), to (n,
out_features) outputs, and padding never changes them: the masked positions are left out
of every mean, maximum and attention. The data's tokenizer sizes them (`vocab_size`,
`pad_id`, `max_length`, supplied by the engine), and `in_features` extra numeric columns of
the data, when it names some, join the pooled text features before the head (`extras`, (n,
in_features) float).

A transformer encoder holds a transformers `...ForSequenceClassification` as `model`, as
the image backbones hold theirs, and shares their rules for `pretrained` (a directory
written by `save_pretrained` or a hub id: `ednax.steps.pretrained`): the checkpoint's
architecture decides, its head is replaced for the data's classes, `load_report` says what
was loaded, and `export_pretrained` writes the model for another run.

transformers is imported when a model is built, never when this module is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from annotated_types import Ge, Interval
from torch import nn

from ednax.errors import ConfigError, Problem
from ednax.steps.pretrained import (
    export,
    load_checkpoint,
    load_report,
    plain,
    quiet_transformers,
    unused_sizes,
)

Pooling = Literal["cls", "mean"]
Dropout = Annotated[float, Interval(ge=0, lt=1)]


class _TextModel(nn.Module):
    """What every text model shares: the data's sizes checked, the mask, the extras."""

    name = ""  # the registered name, in messages
    vocab_size: int | None
    pad_id: int
    in_features: int
    out_features: int

    def _check_data(self) -> None:
        if self.vocab_size is None:
            raise ValueError(
                f"{self.name} needs text data: the dataset has no tokenizer vocabulary "
                "(text_csv or text_folder with a tokenizer in preprocess)"
            )
        if self.out_features < 1:
            raise ValueError(f"{self.name} needs at least one output, got {self.out_features}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id {self.pad_id} is outside the {self.vocab_size} token ids")

    def _mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The text positions as a bool (n, L) mask (without one, the non-pad tokens)."""
        if attention_mask is None:
            return input_ids != self.pad_id
        return attention_mask.bool()

    def _joined(self, pooled: torch.Tensor, extras: torch.Tensor | None) -> torch.Tensor:
        """The pooled text features with the extra columns, as the head takes them."""
        if not self.in_features:
            return pooled
        if extras is None:
            raise ValueError(
                f"{self.name} was built for {self.in_features} extra columns; the batch has none"
            )
        return torch.cat([pooled, extras.to(pooled.dtype)], dim=1)


class EmbeddingBag(_TextModel):
    """A bag of tokens (fastText-like): each token embedded, the embeddings averaged over
    the text (padding left out), dropout, and a linear head.

    Parameters
    ----------
    embed_dim : int
        Width of each token's embedding.
    dropout : float
        Probability of zeroing a feature of the averaged embedding during training.
    vocab_size : int | None
        Number of token ids of the data's tokenizer (supplied by the engine).
    pad_id : int
        The padding token's id (supplied by the engine).
    in_features : int
        Extra numeric columns of the data, joined to the text's features (supplied by the
        engine; 0 without any).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    name = "embedding_bag"

    def __init__(
        self,
        *,
        embed_dim: Annotated[int, Ge(1)] = 64,
        dropout: Dropout = 0.0,
        vocab_size: int | None = None,
        pad_id: int = 0,
        in_features: int = 0,
        out_features: int,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.dropout = dropout
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.in_features = in_features
        self.out_features = out_features
        self._check_data()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(embed_dim + in_features, out_features)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        extras: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # The pad id is left out of EmbeddingBag's mean: masked positions become pad ids.
        ids = input_ids.masked_fill(~self._mask(input_ids, attention_mask), self.pad_id)
        return self.head(self.drop(self._joined(self.embedding(ids), extras)))

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter-name prefixes by group: `backbone` and `embedding` (the token
        embeddings), `head` (the linear layer)."""
        return {"backbone": ["embedding"], "embedding": ["embedding"], "head": ["head"]}


class TextCNN(_TextModel):
    """A convolutional text classifier (Kim, 2014): token embeddings, one 1-D convolution
    per kernel size with ReLU, each maximum taken over the windows that hold text, dropout
    and a linear head.

    Parameters
    ----------
    embed_dim : int
        Width of each token's embedding.
    kernel_sizes : list[int]
        Window of each convolution, in tokens.
    channels : int
        Output channels of each convolution.
    dropout : float
        Probability of zeroing a pooled feature during training.
    vocab_size : int | None
        Number of token ids of the data's tokenizer (supplied by the engine).
    pad_id : int
        The padding token's id (supplied by the engine).
    in_features : int
        Extra numeric columns of the data, joined to the text's features (supplied by the
        engine; 0 without any).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    name = "text_cnn"

    def __init__(
        self,
        *,
        embed_dim: Annotated[int, Ge(1)] = 64,
        kernel_sizes: list[int] = (3, 4, 5),
        channels: Annotated[int, Ge(1)] = 64,
        dropout: Dropout = 0.1,
        vocab_size: int | None = None,
        pad_id: int = 0,
        in_features: int = 0,
        out_features: int,
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.channels = channels
        self.dropout = dropout
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.in_features = in_features
        self.out_features = out_features
        self._check_data()
        if not self.kernel_sizes or min(self.kernel_sizes) < 1:
            raise ValueError(f"kernel_sizes needs sizes >= 1, got {self.kernel_sizes}")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        # Padded by k - 1 on both sides: every window that overlaps the text is computed,
        # and extra padding after the text adds only windows that hold none of it.
        self.convs = nn.ModuleList(
            nn.Conv1d(embed_dim, channels, k, padding=k - 1) for k in self.kernel_sizes
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(channels * len(self.kernel_sizes) + in_features, out_features)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        extras: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = self._mask(input_ids, attention_mask)
        x = (self.embedding(input_ids) * mask.unsqueeze(2).to(self.embedding.weight.dtype)).mT
        text = mask.unsqueeze(1).to(x.dtype)
        pooled = []
        for k, conv in zip(self.kernel_sizes, self.convs, strict=True):
            h = torch.relu(conv(x))
            # Windows holding a text token; the others are 0, below or at any ReLU maximum.
            holds = F.max_pool1d(F.pad(text, (k - 1, k - 1)), k, stride=1) > 0
            pooled.append(h.masked_fill(~holds, 0).amax(dim=2))
        return self.head(self.drop(self._joined(torch.cat(pooled, dim=1), extras)))

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter-name prefixes by group: `backbone` (all but the head), `embedding`,
        `convs` and `head`."""
        return {
            "backbone": ["embedding", "convs"],
            "embedding": ["embedding"],
            "convs": ["convs"],
            "head": ["head"],
        }


class _Encoder(_TextModel):
    """What the transformer encoders share: building, loading, pooling, groups, export."""

    model_type = ""  # transformers' model_type of the checkpoints this class loads
    # Constructor parameters that size the architecture -> the transformers config's names.
    size_names: dict[str, str] = {}

    model: Any
    load_report: str | None
    pooling: str
    pretrained: str | None
    max_length: int | None
    dropout: float

    # What a subclass says: its transformers classes, dropout settings, forward parts.
    def _classes(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def _dropout_values(self) -> dict[str, float]:
        raise NotImplementedError

    def _encoder(self) -> nn.Module:
        return getattr(self.model, self.model.base_model_prefix)

    def _head(self, pooled: torch.Tensor, extras: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _cls(self, hidden: torch.Tensor, output: Any) -> torch.Tensor:
        return hidden[:, 0]

    # Shared.
    def _build(self) -> None:
        self._check_data()
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {self.pooling!r}")
        if self.pretrained is None:
            self._check_sizes()
        with quiet_transformers():
            if self.pretrained is None:
                config_class, model_class = self._classes()
                config = config_class(**self._config_values(), num_labels=self.out_features)
                self.model = model_class(config)
                self._drop_unused(self.model)
                self.load_report = None
            else:
                self.model, self.load_report = self._load_pretrained(self.pretrained)
        self._fit_head()

    def _config_values(self) -> dict[str, Any]:
        sizes = {self.size_names[k]: plain(getattr(self, k)) for k in self.size_names}
        return {
            **sizes,
            **self._dropout_values(),
            "vocab_size": self.vocab_size,
            "max_position_embeddings": self._positions(),
            "pad_token_id": self.pad_id,
        }

    def _positions(self) -> int:
        return int(self.max_length or 512)

    def _check_sizes(self) -> None:
        for key in self.size_names:
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"num_heads {self.num_heads} must divide hidden_size {self.hidden_size}"
            )

    def _fit_head(self) -> None:
        """Room in the classifier for the extra columns (a fresh head when there are some)."""
        if self.in_features:
            head = self.model.classifier
            self.model.classifier = nn.Linear(
                head.in_features + self.in_features, head.out_features
            )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        extras: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mask = self._mask(input_ids, attention_mask)
        output = self._encoder()(input_ids=input_ids, attention_mask=mask.long())
        hidden = output.last_hidden_state
        if self.pooling == "cls":
            pooled = self._cls(hidden, output)
        else:
            weights = mask.unsqueeze(2).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        return self._head(pooled, extras)

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter-name prefixes by group: `backbone` (the encoder), `head` (the
        classifier), `embeddings` (token and position embeddings) and `layer1`... (each
        transformer layer, the input side first)."""
        base_name = self.model.base_model_prefix
        base = getattr(self.model, base_name)
        groups = {
            "backbone": [f"model.{base_name}"],
            "head": [f"model.{n}" for n, _ in self.model.named_children() if n != base_name],
            "embeddings": [f"model.{base_name}.embeddings"],
        }
        layers = next(
            ((n, m) for n, m in base.named_modules() if isinstance(m, nn.ModuleList)), None
        )
        if layers is not None:
            for i in range(len(layers[1])):
                groups[f"layer{i + 1}"] = [f"model.{base_name}.{layers[0]}.{i}"]
        return groups

    def export_pretrained(self, directory: str | os.PathLike) -> Path:
        """The model written for another run's `model.pretrained` (`pretrained.export`)."""
        return export(self.model, directory)

    def _load_pretrained(self, source: str) -> tuple[Any, str]:
        _, model_class = self._classes()
        model, info, classes, notes = load_checkpoint(
            source, self.model_type, model_class, self.out_features, self._fit_checkpoint
        )
        unused = self._drop_unused(model)  # not used, so not worth a word in the report
        info["missing_keys"] = [k for k in info.get("missing_keys", ()) if not k.startswith(unused)]
        return model, load_report(self.name, source, model, info, classes, notes)

    def _fit_checkpoint(self, config: Any) -> list[str]:
        sizes = {name: (key, plain(getattr(self, key))) for key, name in self.size_names.items()}
        notes = unused_sizes(config, sizes)
        self._fit_tokens(config, notes)
        for key, value in self._dropout_values().items():
            setattr(config, key, value)
        return notes

    def _drop_unused(self, model: Any) -> tuple[str, ...]:
        """Drop the transformers model's layers this model does not use; their prefixes."""
        return ()

    def _fit_tokens(self, config: Any, notes: list[str]) -> None:
        """The data's tokens against the checkpoint's: ids and lengths it has embeddings for."""
        if self.vocab_size > int(config.vocab_size):
            raise ConfigError(
                Problem(
                    f"the tokenizer has {self.vocab_size} token ids; {self.pretrained} embeds "
                    f"only {config.vocab_size}",
                    path="model.pretrained",
                    hint="tokenize with the checkpoint's own tokenizer (preprocess: "
                    "hf_tokenizer with its path), or the tokenizer the checkpoint was "
                    "trained with",
                )
            )
        positions = int(config.max_position_embeddings)
        if self.max_length is not None and self.max_length > positions:
            raise ConfigError(
                Problem(
                    f"the tokenizer keeps up to {self.max_length} tokens; {self.pretrained} "
                    f"has positions for {positions}",
                    path="model.pretrained",
                    hint=f"set the tokenizer's max_length to at most {positions}",
                )
            )
        checkpoint_pad = getattr(config, "pad_token_id", None)
        if checkpoint_pad is not None and int(checkpoint_pad) != self.pad_id:
            notes.append(
                f"the tokenizer pads with id {self.pad_id}, the checkpoint's with "
                f"{checkpoint_pad} (the attention mask leaves padding out either way)"
            )


class Bert(_Encoder):
    """A BERT encoder with a classification head (transformers' BertForSequenceClassification).

    Token, position and segment embeddings, then transformer layers; the text is pooled
    from its first token ([CLS], through BERT's pooler: cls) or as the mean over its tokens
    (mean), then dropout and a linear head. Built new, its vocabulary and positions are the
    tokenizer's.

    Parameters
    ----------
    hidden_size : int
        Width of the tokens.
    num_layers : int
        Transformer layers.
    num_heads : int
        Attention heads of each layer; must divide hidden_size.
    intermediate_size : int
        Width of the feed-forward block of each layer.
    dropout : float
        Dropout of the embeddings, attention, layers and head during training.
    pooling : Literal["cls", "mean"]
        The text's features: its first token's (through the pooler), or the mean of its
        tokens' (the pooler is then dropped).
    pretrained : str | None
        Start from a checkpoint: a directory written by `save_pretrained` (or another run's
        export), or a hub id such as bert-base-uncased (from the local cache unless the
        environment allows downloads). Its architecture replaces the sizes above; tokenize
        with its tokenizer (hf_tokenizer).
    vocab_size : int | None
        Number of token ids of the data's tokenizer (supplied by the engine).
    pad_id : int
        The padding token's id (supplied by the engine).
    max_length : int | None
        The tokenizer's longest text in tokens: the positions to embed (supplied by the
        engine).
    in_features : int
        Extra numeric columns of the data, joined to the text's features (supplied by the
        engine; 0 without any).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    name = "bert"
    model_type = "bert"
    size_names = {
        "hidden_size": "hidden_size",
        "num_layers": "num_hidden_layers",
        "num_heads": "num_attention_heads",
        "intermediate_size": "intermediate_size",
    }

    def __init__(
        self,
        *,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 2,
        intermediate_size: int = 256,
        dropout: Dropout = 0.1,
        pooling: Pooling = "cls",
        pretrained: str | None = None,
        vocab_size: int | None = None,
        pad_id: int = 0,
        max_length: int | None = None,
        in_features: int = 0,
        out_features: int,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.pooling = pooling
        self.pretrained = pretrained
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.max_length = max_length
        self.in_features = in_features
        self.out_features = out_features
        self._build()

    def _classes(self) -> tuple[Any, Any]:
        from transformers import BertConfig, BertForSequenceClassification

        return BertConfig, BertForSequenceClassification

    def _dropout_values(self) -> dict[str, float]:
        return {
            "hidden_dropout_prob": self.dropout,
            "attention_probs_dropout_prob": self.dropout,
            "classifier_dropout": self.dropout,
        }

    def _cls(self, hidden: torch.Tensor, output: Any) -> torch.Tensor:
        return output.pooler_output

    def _drop_unused(self, model: Any) -> tuple[str, ...]:
        if self.pooling != "mean":
            return ()
        model.bert.pooler = None  # mean pooling: no parameters without gradients
        return ("bert.pooler.",)

    def _head(self, pooled: torch.Tensor, extras: torch.Tensor | None) -> torch.Tensor:
        return self.model.classifier(self.model.dropout(self._joined(pooled, extras)))


class DistilBert(_Encoder):
    """A DistilBERT encoder with a classification head (transformers'
    DistilBertForSequenceClassification).

    Token and position embeddings, then transformer layers; the text is pooled from its
    first token (cls) or as the mean over its tokens (mean), then a linear layer with ReLU,
    dropout and a linear head. Built new, its vocabulary and positions are the tokenizer's.

    Parameters
    ----------
    hidden_size : int
        Width of the tokens (DistilBERT's dim).
    num_layers : int
        Transformer layers.
    num_heads : int
        Attention heads of each layer; must divide hidden_size.
    intermediate_size : int
        Width of the feed-forward block of each layer (DistilBERT's hidden_dim).
    dropout : float
        Dropout of the embeddings, attention, layers and head during training.
    pooling : Literal["cls", "mean"]
        The text's features: its first token's, or the mean of its tokens'.
    pretrained : str | None
        Start from a checkpoint: a directory written by `save_pretrained` (or another run's
        export), or a hub id such as distilbert-base-uncased (from the local cache unless
        the environment allows downloads). Its architecture replaces the sizes above;
        tokenize with its tokenizer (hf_tokenizer).
    vocab_size : int | None
        Number of token ids of the data's tokenizer (supplied by the engine).
    pad_id : int
        The padding token's id (supplied by the engine).
    max_length : int | None
        The tokenizer's longest text in tokens: the positions to embed (supplied by the
        engine).
    in_features : int
        Extra numeric columns of the data, joined to the text's features (supplied by the
        engine; 0 without any).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    name = "distilbert"
    model_type = "distilbert"
    size_names = {
        "hidden_size": "dim",
        "num_layers": "n_layers",
        "num_heads": "n_heads",
        "intermediate_size": "hidden_dim",
    }

    def __init__(
        self,
        *,
        hidden_size: int = 128,
        num_layers: int = 2,
        num_heads: int = 2,
        intermediate_size: int = 256,
        dropout: Dropout = 0.1,
        pooling: Pooling = "cls",
        pretrained: str | None = None,
        vocab_size: int | None = None,
        pad_id: int = 0,
        max_length: int | None = None,
        in_features: int = 0,
        out_features: int,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.dropout = dropout
        self.pooling = pooling
        self.pretrained = pretrained
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.max_length = max_length
        self.in_features = in_features
        self.out_features = out_features
        self._build()

    def _classes(self) -> tuple[Any, Any]:
        from transformers import DistilBertConfig, DistilBertForSequenceClassification

        return DistilBertConfig, DistilBertForSequenceClassification

    def _dropout_values(self) -> dict[str, float]:
        return {
            "dropout": self.dropout,
            "attention_dropout": self.dropout,
            "seq_classif_dropout": self.dropout,
        }

    def _head(self, pooled: torch.Tensor, extras: torch.Tensor | None) -> torch.Tensor:
        features = self.model.dropout(torch.relu(self.model.pre_classifier(pooled)))
        return self.model.classifier(self._joined(features, extras))
