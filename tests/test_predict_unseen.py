"""predict follows the run's fitted encoder on categories unseen in training: one_hot with
`handle_unknown: ignore` (its default) encodes them, `error` refuses them before any row is
predicted, as the run itself would."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import SAMPLES, bundle_of, write

NEW_ROWS = SAMPLES / "data" / "penguins-new.csv"


@pytest.fixture
def unseen(workdir):
    rows = pd.read_csv(NEW_ROWS).head(4)
    rows.loc[0, "island"] = "Atlantis"
    return write(workdir / "unseen.csv", rows.to_csv(index=False))


@pytest.mark.parametrize("handle_unknown", ["ignore", "error"])
def test_predict_takes_unseen_categories_when_the_fitted_one_hot_does(
    cli, workdir, unseen, handle_unknown
):
    override = f"preprocess.1.handle_unknown={handle_unknown}"
    done = cli("run", SAMPLES / "csv-example.yaml", override, "model.n_estimators=5")
    assert done.code == 0, done.text
    predicted = cli("predict", bundle_of(done, workdir), unseen)
    if handle_unknown == "ignore":
        assert predicted.code == 0, predicted.text
        assert len(predicted.out.strip().splitlines()) == 1 + 4
    else:
        assert predicted.code == 2, predicted.text
        assert "column 'island' has categories not seen in training: ['Atlantis']" in (
            predicted.err
        )
        assert "Traceback" not in predicted.text
