"""Make `text-topics/topics.csv`: 3000 short generated texts, each about one of 5 topics.

Columns `id,text,topic`. A text is 6 to 16 words, drawn from the words of its topic, from
words two topics share (`match` is sports and finance, `chip` technology, cooking and
finance...), and from common words every topic uses; one text in twenty is labelled with
another topic at random. So the topics are not trivially separable: a bag-of-words model
reaches about 0.9 accuracy, not 1.0. Seeded, numpy only: the file is the same on every run.

Re-make it (the file is replaced) from the repository root with:

    python sample-configs/data/make_text_topics.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "text-topics" / "topics.csv"
ROWS = 3000
SEED = 17
MISLABELLED = 0.05
# Chance that a word is the topic's own, one it shares with another topic, or common.
OWN, SHARED = 0.22, 0.16

TOPICS = {
    "sports": (
        "goal striker coach league season keeper tournament referee stadium defender "
        "penalty playoff championship athlete sprint marathon racket volley dribble "
        "tackle innings wicket medal podium"
    ),
    "technology": (
        "software laptop server algorithm database browser processor startup robot "
        "smartphone network cloud encryption developer keyboard update bug compiler "
        "sensor battery pixel firmware"
    ),
    "cooking": (
        "recipe oven garlic simmer flour butter spice dough sauce roast bake whisk onion "
        "pasta broth pepper skillet dessert herbs grill vinegar marinade"
    ),
    "travel": (
        "passport airport luggage hotel beach museum itinerary tourist island visa cruise "
        "hostel backpack journey train ticket landmark resort ferry border souvenir guide"
    ),
    "finance": (
        "stock bond investor dividend inflation loan mortgage budget portfolio bank "
        "currency interest profit revenue tax shares equity broker pension savings credit "
        "debt"
    ),
}
# Words of two (or three) topics each.
SHARED_WORDS = {
    "match": ("sports", "finance"),
    "score": ("sports", "finance"),
    "record": ("sports", "technology"),
    "team": ("sports", "technology"),
    "chip": ("technology", "cooking", "finance"),
    "apple": ("technology", "cooking"),
    "market": ("cooking", "finance", "travel"),
    "menu": ("cooking", "technology", "travel"),
    "flight": ("travel", "sports"),
    "tour": ("travel", "sports"),
    "exchange": ("travel", "finance"),
    "rate": ("travel", "finance", "technology"),
    "plate": ("cooking", "sports"),
    "fresh": ("cooking", "travel"),
    "crash": ("technology", "finance"),
    "booking": ("travel", "sports"),
    "local": ("travel", "cooking"),
    "fund": ("finance", "sports"),
}
COMMON = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "with",
    "for",
    "of",
    "in",
    "on",
    "at",
    "to",
    "from",
    "by",
    "about",
    "after",
    "before",
    "new",
    "old",
    "good",
    "great",
    "big",
    "small",
    "first",
    "last",
    "next",
    "today",
    "yesterday",
    "week",
    "year",
    "people",
    "time",
    "day",
    "way",
    "really",
    "very",
    "just",
    "also",
    "still",
    "again",
    "this",
    "that",
    "these",
    "those",
    "some",
    "many",
    "more",
    "most",
    "every",
    "any",
    "our",
    "their",
    "my",
    "your",
    "his",
    "her",
    "it",
    "we",
    "they",
    "you",
    "i",
    "was",
    "is",
    "are",
    "will",
    "can",
    "could",
    "would",
    "should",
    "had",
    "have",
    "has",
    "been",
    "be",
    "said",
    "says",
    "think",
    "know",
    "want",
    "need",
    "like",
    "love",
    "hate",
    "found",
    "made",
    "got",
    "took",
    "saw",
    "heard",
    "told",
    "asked",
]


def topic_texts(rows: int, seed: int) -> list[tuple[int, str, str]]:
    """(id, text, topic) of `rows` texts, topics drawn evenly."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    own = {t: TOPICS[t].split() for t in names}
    shared = {t: [w for w, ts in SHARED_WORDS.items() if t in ts] for t in names}
    out = []
    for i in range(rows):
        topic = names[i % len(names)]
        words = []
        for _ in range(int(rng.integers(6, 17))):
            draw = rng.random()
            if draw < OWN:
                pool = own[topic]
            elif draw < OWN + SHARED:
                pool = shared[topic]
            else:
                pool = COMMON
            words.append(pool[int(rng.integers(len(pool)))])
        text = " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])
        label = topic
        if rng.random() < MISLABELLED:
            label = names[int(rng.integers(len(names)))]
        out.append((i + 1, text, label))
    order = rng.permutation(rows)
    return [out[j] for j in order]


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "topic"])
        writer.writerows(topic_texts(ROWS, SEED))
    print(f"{ROWS} texts, {OUT.stat().st_size} bytes in {OUT}")


if __name__ == "__main__":
    main()
