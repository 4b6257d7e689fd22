"""Tokenizers: the preprocess steps of a text run, fitted on the train split only.

`wordpiece`, `bpe` and `unigram` train a new vocabulary on the train split's texts with
HuggingFace's `tokenizers` library; `hf_tokenizer` takes a saved one (a folder holding the
tokenizer.json that `save_pretrained` writes). Each gives a `FittedTokenizer`: every text
becomes `[CLS] tokens [SEP]` (a transformer encoder pools on the first token), truncated
to `max_length` tokens with its special tokens, from the right or the left.

A fitted tokenizer is kept as the library's JSON (artifacts/tokenizer.json, data and no
code, so it is safe to load from any bundle) and tokenizer_state.json beside it (the
truncation, the pad token, the step); `load_fitted` reads them back. `tokenizers` is
imported when a tokenizer is fitted or loaded, not with this module.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Interval

from ednax.errors import ConfigError, Problem, UsageError
from ednax.steps.base import Step
from ednax.steps.pretrained import first_line, locate
from ednax.steps.text.tokens import TextSplit, TokenSplit, Vocabulary

Side = Literal["right", "left"]

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_STATE = "tokenizer_state.json"
PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP]  # ids 0..3 of a tokenizer trained here
STATE_FORMAT = 1
# The files of a saved tokenizer folder whose contents say which tokenizer it is.
HF_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer_state.json",
)
TOKENIZERS_HINT = "pip install tokenizers"
UNIGRAM_PENALTY = 1e-4  # the unigram trainer's score step between the characters it adds
PRIVATE_USE = 0xF0000  # Unicode's plane 15: where WordPiece training marks inner characters


class FittedTokenizer:
    """A fitted tokenizer: the `tokenizers.Tokenizer` (truncation set, no padding: token
    splits stay ragged, a batch is padded by the loader) and its state."""

    def __init__(self, tokenizer: Any, state: dict[str, Any]):
        self.tokenizer = tokenizer
        self.state = state

    @classmethod
    def of(
        cls, tokenizer: Any, *, step: str, pad_token: str, max_length: int, side: str
    ) -> FittedTokenizer:
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ConfigError(
                Problem(f"the tokenizer has no token {pad_token!r} to pad with", path="preprocess")
            )
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length, direction=side)
        state = {
            "format": STATE_FORMAT,
            "step": step,
            "max_length": int(max_length),
            "truncation_side": side,
            "pad_token": pad_token,
            "pad_id": int(pad_id),
            "vocab_size": int(tokenizer.get_vocab_size(with_added_tokens=True)),
        }
        return cls(tokenizer, state)

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(
            size=self.state["vocab_size"],
            pad_id=self.state["pad_id"],
            max_length=self.state["max_length"],
        )

    def encode(self, split: TextSplit) -> TokenSplit:
        """Every text's token ids, with the special tokens, truncated."""
        encodings = self.tokenizer.encode_batch(list(split.texts), add_special_tokens=True)
        return TokenSplit.of([e.ids for e in encodings], split)

    def artifacts(self) -> dict[str, str]:
        """The files that keep it: artifacts/tokenizer.json and tokenizer_state.json."""
        return {
            TOKENIZER_JSON: self.tokenizer.to_str(pretty=True) + "\n",
            TOKENIZER_STATE: json.dumps(self.state, indent=2) + "\n",
        }

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.artifacts().items():
            (folder / name).write_text(text, encoding="utf-8")

    def to_json(self) -> str:
        """Both files as one JSON text (what the preprocessing cache keeps)."""
        return json.dumps(self.artifacts())

    @classmethod
    def from_json(cls, text: str) -> FittedTokenizer:
        files = json.loads(text)
        return cls.from_texts(files[TOKENIZER_JSON], files[TOKENIZER_STATE])

    @classmethod
    def from_texts(cls, tokenizer_json: str, state_json: str) -> FittedTokenizer:
        Tokenizer = _tokenizers(UsageError).Tokenizer
        state = json.loads(state_json)
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"{TOKENIZER_STATE} is not of format {STATE_FORMAT}")
        tokenizer = Tokenizer.from_str(tokenizer_json)
        tokenizer.no_padding()
        tokenizer.enable_truncation(state["max_length"], direction=state["truncation_side"])
        return cls(tokenizer, state)


def load_fitted(artifacts_dir: Path) -> FittedTokenizer:
    """The fitted tokenizer a text run kept in its artifacts folder (JSON only: nothing is
    unpickled); a UsageError says what is missing or unreadable."""
    folder = Path(artifacts_dir)
    texts = []
    for name in (TOKENIZER_JSON, TOKENIZER_STATE):
        try:
            texts.append((folder / name).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(
                f"the run's fitted tokenizer is missing: cannot read {folder / name} "
                f"({exc.strerror or exc}); is this a text run that finished preprocessing?"
            ) from None
    try:
        return FittedTokenizer.from_texts(*texts)
    except UsageError:
        raise
    except Exception as exc:  # malformed JSON, or the library's own error types
        raise UsageError(f"cannot load the fitted tokenizer in {folder}: {exc}") from None


class _Trained(Step):
    """What the tokenizers trained here share: the vocabulary's size, lowercasing, the
    frequency a pair (or word) needs, truncation. A subclass makes the library's model,
    trainer and pre-tokenizer."""

    name = ""
    vocab_size: int
    lowercase: bool
    min_frequency: int
    max_length: int
    truncation_side: str

    def problems(self) -> list[Problem]:
        """Values the types let through that cannot work."""
        found = []
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            found.append(Problem(f"must be at least {len(SPECIAL_TOKENS) + 1}", path="vocab_size"))
        if self.min_frequency < 1:
            found.append(Problem("must be at least 1", path="min_frequency"))
        found += _max_length_problems(self.max_length)
        return found

    def fit(self, split: TextSplit) -> _Trained:
        """Train the vocabulary on `split`'s texts (the train split), in their order."""
        lib = _tokenizers(ConfigError)
        if problems := self.problems():
            raise ConfigError(
                [Problem(p.message, path=f"preprocess.{p.path}", hint=p.hint) for p in problems]
            )
        normalizers = [lib.normalizers.NFKC()]
        if self.lowercase:
            normalizers.append(lib.normalizers.Lowercase())
        tokenizer = self._trained(lib, lib.normalizers.Sequence(normalizers), split.texts)
        tokenizer.post_processor = _template(lib, tokenizer)
        self._fitted = FittedTokenizer.of(
            tokenizer,
            step=self.name,
            pad_token=PAD,
            max_length=self.max_length,
            side=self.truncation_side,
        )
        return self

    @property
    def fitted(self) -> FittedTokenizer:
        fitted = getattr(self, "_fitted", None)
        if fitted is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")
        return fitted

    def encode(self, split: TextSplit) -> TokenSplit:
        return self.fitted.encode(split)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.fitted.vocabulary

    def _trained(self, lib: Any, normalizer: Any, texts: list[str]) -> Any:
        """A `tokenizers.Tokenizer` trained on `texts`, the same for the same texts."""
        raise NotImplementedError


class WordPiece(_Trained):
    """A WordPiece vocabulary (BERT's) trained on the train split's texts.

    Text is split on whitespace and punctuation (BERT's pre-tokenizer); a word not in the
    vocabulary is split into the longest pieces that are (`##` continues a word), and
    characters never seen in train become [UNK]. Every text is [CLS] ... [SEP]; the
    special tokens [PAD], [UNK], [CLS], [SEP] are ids 0-3.

    Parameters
    ----------
    vocab_size : int
        The most tokens the vocabulary holds, special tokens and characters included.
    lowercase : bool
        Lowercase the text before tokenizing (also when encoding).
    min_frequency : int
        How often a piece must occur in train to become a token.
    max_length : int
        The most tokens of a text, [CLS] and [SEP] included; longer texts are truncated.
    truncation_side : Literal["right", "left"]
        Which end of a long text is cut: right keeps its beginning, left its end.
    """

    name = "wordpiece"

    def __init__(
        self,
        vocab_size: Annotated[int, Interval(ge=5)] = 8000,
        lowercase: bool = True,
        min_frequency: Annotated[int, Interval(ge=1)] = 2,
        max_length: Annotated[int, Interval(ge=3)] = 256,
        truncation_side: Side = "right",
    ):
        self.vocab_size = vocab_size
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_length = max_length
        self.truncation_side = truncation_side

    def _trained(self, lib: Any, normalizer: Any, texts: list[str]) -> Any:
        """The library's WordPiece trainer is BPE with `##` continuing pieces, whose ids
        depend on the order a hash map gives the words, so that ties among merges break
        differently from one run to the next. The same training made deterministic: each
        character after a word's first is marked as a character of its own (from Unicode's
        private use planes, in sorted order), plain BPE is trained on the marked words,
        and a marked piece is `##` and the piece in the vocabulary."""
        pre = lib.pre_tokenizers.BertPreTokenizer()
        words = [
            [w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text))] for text in texts
        ]
        inner = sorted({c for text in words for w in text for c in w[1:]})
        marks = {ord(c): chr(PRIVATE_USE + i) for i, c in enumerate(inner)}
        marked = [" ".join(w[0] + w[1:].translate(marks) for w in text) for text in words]
        bpe = lib.Tokenizer(lib.models.BPE(unk_token=UNK))
        bpe.pre_tokenizer = lib.pre_tokenizers.WhitespaceSplit()
        trainer = lib.trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=SPECIAL_TOKENS,
            show_progress=False,
        )
        bpe.train_from_iterator(marked, trainer=trainer, length=len(marked))
        unmarks = {ord(m): c for c, m in zip(inner, marks.values(), strict=True)}
        vocab: dict[str, int] = {}
        for token, _id in sorted(bpe.get_vocab().items(), key=lambda item: item[1]):
            if token not in SPECIAL_TOKENS and ord(token[0]) in unmarks:
                token = "##" + token.translate(unmarks)
            elif token not in SPECIAL_TOKENS:
                token = token.translate(unmarks)
            vocab.setdefault(token, len(vocab))
        tokenizer = lib.Tokenizer(lib.models.WordPiece(vocab=vocab, unk_token=UNK))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre
        tokenizer.decoder = lib.decoders.WordPiece()
        return tokenizer


class BPE(_Trained):
    """A byte-pair-encoding vocabulary trained on the train split's texts.

    Text is split into words and punctuation; a word is merged from its characters by the
    learned merges, and characters never seen in train become [UNK]. Every text is
    [CLS] ... [SEP]; the special tokens [PAD], [UNK], [CLS], [SEP] are ids 0-3.

    Parameters
    ----------
    vocab_size : int
        The most tokens the vocabulary holds, special tokens and characters included.
    lowercase : bool
        Lowercase the text before tokenizing (also when encoding).
    min_frequency : int
        How often a pair must occur in train to be merged into a token.
    max_length : int
        The most tokens of a text, [CLS] and [SEP] included; longer texts are truncated.
    truncation_side : Literal["right", "left"]
        Which end of a long text is cut: right keeps its beginning, left its end.
    """

    name = "bpe"

    def __init__(
        self,
        vocab_size: Annotated[int, Interval(ge=5)] = 8000,
        lowercase: bool = True,
        min_frequency: Annotated[int, Interval(ge=1)] = 2,
        max_length: Annotated[int, Interval(ge=3)] = 256,
        truncation_side: Side = "right",
    ):
        self.vocab_size = vocab_size
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_length = max_length
        self.truncation_side = truncation_side

    def _trained(self, lib: Any, normalizer: Any, texts: list[str]) -> Any:
        tokenizer = lib.Tokenizer(lib.models.BPE(unk_token=UNK))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = lib.pre_tokenizers.Whitespace()
        trainer = lib.trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=SPECIAL_TOKENS,
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return tokenizer


class Unigram(_Trained):
    """A unigram language-model vocabulary (SentencePiece's) trained on the train split.

    Text is split at spaces (`▁` marks a word's start) and each word into its likeliest
    pieces; characters never seen in train become [UNK]. Words seen in train fewer than
    `min_frequency` times are left out of the training. Every text is [CLS] ... [SEP];
    the special tokens [PAD], [UNK], [CLS], [SEP] are ids 0-3.

    Parameters
    ----------
    vocab_size : int
        The most tokens the vocabulary holds, special tokens and characters included.
    lowercase : bool
        Lowercase the text before tokenizing (also when encoding).
    min_frequency : int
        How often a word must occur in train to be trained on.
    max_length : int
        The most tokens of a text, [CLS] and [SEP] included; longer texts are truncated.
    truncation_side : Literal["right", "left"]
        Which end of a long text is cut: right keeps its beginning, left its end.
    """

    name = "unigram"

    def __init__(
        self,
        vocab_size: Annotated[int, Interval(ge=5)] = 8000,
        lowercase: bool = True,
        min_frequency: Annotated[int, Interval(ge=1)] = 1,
        max_length: Annotated[int, Interval(ge=3)] = 256,
        truncation_side: Side = "right",
    ):
        self.vocab_size = vocab_size
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_length = max_length
        self.truncation_side = truncation_side

    def _trained(self, lib: Any, normalizer: Any, texts: list[str]) -> Any:
        """Trained on the texts without their rare words (the unigram trainer has no
        frequency threshold of its own), its pieces put in a canonical order
        (`_canonical_pieces`)."""
        tokenizer = lib.Tokenizer(lib.models.Unigram())
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = lib.pre_tokenizers.Metaspace()
        tokenizer.decoder = lib.decoders.Metaspace()
        trainer = lib.trainers.UnigramTrainer(
            vocab_size=self.vocab_size,
            special_tokens=SPECIAL_TOKENS,
            unk_token=UNK,
            show_progress=False,
        )
        if self.min_frequency > 1:
            words = [_words(tokenizer, text) for text in texts]
            counts = Counter(w for text in words for w in text)
            texts = [" ".join(w for w in text if counts[w] >= self.min_frequency) for text in words]
        tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
        state = json.loads(tokenizer.to_str())
        state["model"]["vocab"] = _canonical_pieces(state["model"]["vocab"])
        return lib.Tokenizer.from_str(json.dumps(state))


class HfTokenizer(Step):
    """A saved HuggingFace tokenizer, from the folder `save_pretrained` wrote.

    The folder holds tokenizer.json (a fast tokenizer's JSON); tokenizer_config.json names
    the pad token. An ednax run's artifacts folder is one too (its tokenizer_state.json
    names the pad token): a run fine-tuning another run's model takes that run's tokenizer.

    Nothing is trained: the train split only confirms it encodes. The tokenizer's own
    post-processor adds its special tokens (BERT's [CLS] ... [SEP], say). Only JSON is read
    (`tokenizers.Tokenizer.from_file`), never code, and the run keeps the tokenizer in its
    artifacts, so the folder need not stay. The folder's files are part of the
    preprocessing cache's key: a changed tokenizer is encoded afresh.

    Parameters
    ----------
    path : str | None
        The folder holding tokenizer.json (or the tokenizer.json file itself).
    pretrained : str | None
        Instead of `path`: a folder, or a hub id (`bert-base-uncased`, `owner/name`) whose
        tokenizer files are read from the local Hugging Face cache, or downloaded where the
        environment allows (not with HF_HUB_OFFLINE=1).
    max_length : int
        The most tokens of a text, special tokens included; longer texts are truncated.
    truncation_side : Literal["right", "left"]
        Which end of a long text is cut: right keeps its beginning, left its end.
    pad_token : str | None
        The token to pad with; None = the one tokenizer_config.json (or
        special_tokens_map.json, tokenizer_state.json, tokenizer.json's padding) names.
    """

    name = "hf_tokenizer"

    def __init__(
        self,
        path: str | None = None,
        pretrained: str | None = None,
        max_length: Annotated[int, Interval(ge=3)] = 256,
        truncation_side: Side = "right",
        pad_token: str | None = None,
    ):
        self.path = path
        self.pretrained = pretrained
        self.max_length = max_length
        self.truncation_side = truncation_side
        self.pad_token = pad_token

    def problems(self) -> list[Problem]:
        found = _max_length_problems(self.max_length)
        if (self.path is None) == (self.pretrained is None):
            return [*found, _one_source()]
        try:
            file = self._file()
        except ConfigError as exc:
            return [*found, *exc.problems]
        if not file.is_file():
            found.append(
                Problem(
                    f"no tokenizer.json in {file.parent}",
                    path=self._key(),
                    hint="give the folder tokenizer.save_pretrained(folder) wrote, with a fast "
                    "tokenizer's tokenizer.json",
                )
            )
        elif self.pad_token is None and self._pad_token() is None:
            found.append(
                Problem(
                    f"the tokenizer in {file.parent} names no pad token",
                    path="pad_token",
                    hint="set pad_token: to one of its tokens (e.g. its [PAD] or <pad>)",
                )
            )
        return found

    def cache_inputs(self) -> str:
        """The saved tokenizer's files, hashed: what the cache key needs beyond the path."""
        digest = hashlib.sha256()
        folder = self._file().parent
        for name in HF_FILES:
            file = folder / name
            data = file.read_bytes() if file.is_file() else b""
            digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
        return digest.hexdigest()

    def fit(self, split: TextSplit) -> HfTokenizer:
        lib = _tokenizers(ConfigError)
        if problems := self.problems():
            raise ConfigError(
                [Problem(p.message, path=f"preprocess.{p.path}", hint=p.hint) for p in problems]
            )
        file = self._file()
        try:
            tokenizer = lib.Tokenizer.from_file(str(file))
        except Exception as exc:  # the library raises its own error types
            raise ConfigError(
                Problem(
                    f"cannot read {file} as a tokenizer: {exc}", path=f"preprocess.{self._key()}"
                )
            ) from None
        pad = self.pad_token or self._pad_token()
        self._fitted = FittedTokenizer.of(
            tokenizer,
            step=self.name,
            pad_token=str(pad),
            max_length=self.max_length,
            side=self.truncation_side,
        )
        return self

    @property
    def fitted(self) -> FittedTokenizer:
        fitted = getattr(self, "_fitted", None)
        if fitted is None:
            raise RuntimeError("HfTokenizer is not fitted: call fit() first")
        return fitted

    def encode(self, split: TextSplit) -> TokenSplit:
        return self.fitted.encode(split)

    @property
    def vocabulary(self) -> Vocabulary:
        return self.fitted.vocabulary

    def _file(self) -> Path:
        """The tokenizer.json: at `path`, in the `pretrained` folder, or the hub id's in the
        local cache (downloaded first where allowed), found once."""
        found = getattr(self, "_found", None)
        if found is None:
            path = Path(self.path).expanduser() if self.path is not None else None
            if path is None:
                path = hub_tokenizer(self.pretrained or "", key="pretrained")
            found = self._found = path if path.suffix == ".json" else path / TOKENIZER_JSON
        return found

    def _key(self) -> str:
        return "path" if self.path is not None else "pretrained"

    def _pad_token(self) -> str | None:
        """The pad token the saved folder names, read from its JSON files (an ednax run's
        artifacts folder names it in tokenizer_state.json)."""
        folder = self._file().parent
        for name in ("tokenizer_config.json", "special_tokens_map.json", TOKENIZER_STATE):
            token = _token_of(_json_of(folder / name).get("pad_token"))
            if token:
                return token
        padding = _json_of(self._file()).get("padding") or {}
        return _token_of(padding.get("pad_token")) if isinstance(padding, dict) else None


def _canonical_pieces(vocab: list[list[Any]]) -> list[list[Any]]:
    """A trained unigram vocabulary made the same for the same texts. The trainer's
    parallel sums differ in their last bits from one run to the next (scores are rounded
    to 10 decimals), and the characters it must keep but did not choose come last, each
    `UNIGRAM_PENALTY` less likely than the one before, in a hash set's order: they are
    found by that progression of scores and given its scores in sorted order. The special
    tokens stay first; the rest are sorted by score, then piece."""
    special = [[p, 0.0] for p, _ in vocab if p in SPECIAL_TOKENS]
    pieces = [[p, round(score, 10)] for p, score in vocab if p not in SPECIAL_TOKENS]
    singles = sorted((s for s in pieces if len(s[0]) == 1), key=lambda s: -s[1])
    run = 1
    while run < len(singles) and math.isclose(
        singles[-run - 1][1] - singles[-run][1], UNIGRAM_PENALTY, abs_tol=1e-8
    ):
        run += 1
    if run > 1:
        appended = singles[-run:]
        chars = sorted(p for p, _ in appended)
        for piece, char in zip(appended, chars, strict=True):  # scores stay in order
            piece[0] = char
    return special + sorted(pieces, key=lambda item: (-item[1], item[0]))


def _json_of(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _token_of(value: Any) -> str | None:
    """A token as tokenizer_config.json writes it: a string, or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def _one_source() -> Problem:
    return Problem(
        "hf_tokenizer takes either path or pretrained",
        hint="path: a folder tokenizer.save_pretrained(folder) wrote; pretrained: such a "
        "folder or a hub id",
    )


def hub_tokenizer(source: str, key: str) -> Path:
    """The folder of `source`'s tokenizer files: the folder itself, or the hub id's
    snapshot in the local Hugging Face cache (each file downloaded first where it is
    missing and the environment allows; only JSON files are fetched)."""
    if Path(source).expanduser().is_file():
        return Path(source).expanduser()  # a tokenizer.json named itself
    where, local_only = locate(source, key=key)
    if Path(where).is_dir():
        return Path(where)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    folder = None
    for name in HF_FILES:
        try:
            file = Path(hf_hub_download(where, name, local_files_only=True))
        except EntryNotFoundError:
            continue
        except Exception:  # not cached (or the cache is incomplete): download, if allowed
            if local_only:
                if name == TOKENIZER_JSON:
                    raise _not_cached(source, key) from None
                continue
            try:
                file = Path(hf_hub_download(where, name))
            except EntryNotFoundError:
                continue
            except Exception as exc:  # the hub unreachable, or no such repository
                if name == TOKENIZER_JSON:
                    raise _not_downloaded(source, key, exc) from None
                continue
        folder = file.parent
    if folder is None:
        raise _not_cached(source, key)
    return folder


def _not_cached(source: str, key: str) -> ConfigError:
    return ConfigError(
        Problem(
            f"no folder {source}, and no tokenizer.json of hub model {source} in the local cache",
            path=key,
            hint="downloads are off (HF_HUB_OFFLINE); download it where they are on, or give "
            "a folder tokenizer.save_pretrained(folder) wrote",
        )
    )


def _not_downloaded(source: str, key: str, exc: BaseException) -> ConfigError:
    return ConfigError(
        Problem(
            f"no folder {source}, and hub model {source}'s tokenizer.json could not be "
            f"downloaded ({first_line(exc)})",
            path=key,
            hint="check the hub id and the network, or give a folder "
            "tokenizer.save_pretrained(folder) wrote",
        )
    )


def _max_length_problems(max_length: int) -> list[Problem]:
    if max_length < 3:
        return [
            Problem(
                "must be at least 3: [CLS], one token and [SEP]",
                path="max_length",
            )
        ]
    return []


def _template(lib: Any, tokenizer: Any) -> Any:
    """[CLS] $A [SEP]: a transformer encoder pools on the first token."""
    return lib.processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in (CLS, SEP)],
    )


def _words(tokenizer: Any, text: str) -> list[str]:
    """`text`'s words as the tokenizer splits them (normalized, without the `▁` marker)."""
    normalized = tokenizer.normalizer.normalize_str(text)
    pieces = tokenizer.pre_tokenizer.pre_tokenize_str(normalized)
    return [w.lstrip("\u2581") for w, _ in pieces if w.lstrip("\u2581")]


def _tokenizers(error: type) -> Any:
    """The `tokenizers` library (with its submodules), or the error saying how to get it."""
    try:
        import tokenizers
        from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers
    except ImportError:
        message = "text tokenizers need the tokenizers library, not installed"
        if error is ConfigError:
            raise ConfigError(Problem(message, path="preprocess", hint=TOKENIZERS_HINT)) from None
        raise error(f"{message}\n    {TOKENIZERS_HINT}") from None
    del decoders, models, normalizers, pre_tokenizers, processors, trainers  # attributes now
    return tokenizers
