"""What text steps hand each other: texts as a data step reads them, token ids after the
tokenizer.

A text data step (`text_csv`, `text_folder`) gives `TextSplit`s: the texts, the target and
stable ids, with optional extra numeric columns. The run's tokenizer (a `preprocess` step,
fitted on the train split only) turns each into a `TokenSplit`: every text's token ids,
ragged, stored as one flat int32 array and the offsets of each text in it, so that a split
of any size is two arrays (what the preprocessing cache stores) and a batch is padded only
to its own longest text, when the loader makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class TextSplit:
    """The texts of one split. `extras` is (n, k) float32 for the extra numeric columns
    named by the data step (`extra_names`), or None."""

    texts: list[str]
    y: np.ndarray
    ids: np.ndarray
    extras: np.ndarray | None = None
    extra_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def joined(cls, parts: Sequence[TextSplit]) -> TextSplit:
        """One split of `parts`' texts, in order (k-fold pools train and val)."""
        extras = [p.extras for p in parts]
        return cls(
            [t for p in parts for t in p.texts],
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.ids for p in parts]),
            None if any(e is None for e in extras) else np.concatenate(extras),
            list(parts[0].extra_names),
        )

    def subset(self, rows: np.ndarray) -> TextSplit:
        rows = np.asarray(rows, dtype=np.int64)
        return TextSplit(
            [self.texts[i] for i in rows],
            self.y[rows],
            self.ids[rows],
            None if self.extras is None else self.extras[rows],
            list(self.extra_names),
        )


@dataclass
class TokenSplit:
    """Token ids of one split: text i is `values[offsets[i]:offsets[i + 1]]` (int32),
    already truncated to the tokenizer's `max_length` and with its special tokens."""

    values: np.ndarray
    offsets: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    extras: np.ndarray | None = None
    extra_names: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, tokens: Sequence[Sequence[int]], like: TextSplit) -> TokenSplit:
        """The token ids of `like`'s texts, one sequence per text, in order."""
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter((i for t in tokens for i in t), dtype=np.int32, count=int(offsets[-1]))
        return cls(values, offsets, like.y, like.ids, like.extras, list(like.extra_names))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def tokens(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def subset(self, rows: np.ndarray) -> TokenSplit:
        rows = np.asarray(rows, dtype=np.int64)
        return TokenSplit.of(
            [self.tokens(i) for i in rows],
            TextSplit(
                [""] * len(rows),
                self.y[rows],
                self.ids[rows],
                None if self.extras is None else self.extras[rows],
                list(self.extra_names),
            ),
        )


@dataclass(frozen=True)
class Vocabulary:
    """What a model needs to know of the fitted tokenizer (`Dataset.vocabulary`)."""

    size: int
    pad_id: int
    max_length: int
