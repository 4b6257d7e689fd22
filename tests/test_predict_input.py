"""A file `ednax predict` cannot use is a usage error that says what is wrong with it
(exit 2, no traceback), and no predictions are written."""

from __future__ import annotations

from tests.conftest import SAMPLES, bundle_of, write

HEADER = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\n"


def test_predict_says_what_is_wrong_with_an_unusable_input_file(cli, workdir):
    done = cli("run", SAMPLES / "csv-example.yaml", "model.n_estimators=5")
    assert done.code == 0, done.text
    bundle = bundle_of(done, workdir)
    inputs = {
        "header.csv": (HEADER, "header.csv holds no rows to predict"),
        "zero.csv": ("", "the CSV file is empty: "),
        "latin1.csv": (HEADER + "Dr\xe9am,39.5,17.4,186,3800\n", "is not UTF-8"),
    }
    for name, (text, message) in inputs.items():
        path = workdir / name
        if name == "latin1.csv":
            path.write_bytes(text.encode("latin-1"))
        else:
            write(path, text)
        out = workdir / f"{name}.predictions.csv"

        predicted = cli("predict", bundle, path, "-o", out)

        assert predicted.code == 2, (name, predicted.text)
        assert message in predicted.err, (name, predicted.err)
        assert "Traceback" not in predicted.text and "internal error" not in predicted.text
        assert not out.exists()
