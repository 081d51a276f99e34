"""Tests for randsmooth.logs: reference-log import/export and alpha inference."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from randsmooth import decide, logs, metrics
from randsmooth.counts import synthetic_table

N = 100_000
CERT_HEADER = "idx\tlabel\tpredict\tradius\tcorrect\ttime"
CS_HEADER = "idx\tlabel\tpredict\tr\tr1\tr2\tmass\tnA\tnB\tcBHat\tcorrect"


def certify_df():
    return pd.DataFrame(
        {
            "idx": [0, 20, 40, 60, 80],
            "label": [3, 7, 4, 5, 1],
            "predict": [3, -1, 4, 3, 1],
            "radius": [0.378, 0.0, 7.11e-05, 0.698, 1.96],
            "correct": [1, 0, 1, 0, 1],
            "time": [151.238689, 15.0, 0.5, 86401.25, 3599.999999],
        }
    )


# -------------------------------------------------------------------------------- time
@pytest.mark.parametrize(
    "text, seconds",
    [
        ("0:02:31.238689", 151.238689),
        ("0:00:15", 15.0),
        ("1 day, 0:00:01", 86401.0),
        ("2 days, 1:00:00.5", 2 * 86400 + 3600.5),
        ("15.4", 15.4),
        ("3", 3.0),
    ],
)
def test_parse_time(text, seconds):
    assert logs.parse_time(text) == pytest.approx(seconds, abs=1e-9)


def test_parse_time_errors():
    for bad in ("", "abc", "1:2", "nan"):
        with pytest.raises(ValueError):
            logs.parse_time(bad)


# ------------------------------------------------------------------------ certify logs
def test_certify_log_exact_text_and_round_trip(tmp_path):
    path = tmp_path / "sigma_0.25"
    logs.write_reference_log(certify_df(), path)
    text = path.read_text()
    assert text.splitlines() == [
        CERT_HEADER,
        "0\t3\t3\t0.378\t1\t0:02:31.238689",
        "20\t7\t-1\t0.0\t0\t0:00:15",
        "40\t4\t4\t7.11e-05\t1\t0:00:00.500000",
        "60\t5\t3\t0.698\t0\t1 day, 0:00:01.250000",
        "80\t1\t1\t1.96\t1\t0:59:59.999999",
    ]
    back = logs.read_reference_log(path)
    pd.testing.assert_frame_equal(back, certify_df(), check_exact=False, rtol=0, atol=1e-9)
    assert back.attrs["kind"] == "certify" and back.attrs["time_format"] == "timedelta"
    assert back.attrs["radius_format"] == "{:.3}"
    again = tmp_path / "again"
    logs.write_reference_log(back, again)
    assert again.read_bytes() == path.read_bytes()
    # writing overwrites (no append)
    logs.write_reference_log(back, path)
    assert path.read_text().count("idx\t") == 1


def test_certify_log_float_seconds_variant_round_trip(tmp_path):
    text = CERT_HEADER + "\n0\t3\t3\t0.378\t1\t15.4\n20\t7\t-1\t0.0\t0\t15.6\n60\t7\t7\t0.941\t1\t17.0\n"
    src = tmp_path / "old"
    src.write_text(text)
    df = logs.read_reference_log(src)
    assert df.attrs["time_format"] == "seconds"
    np.testing.assert_allclose(df["time"], [15.4, 15.6, 17.0])
    out = tmp_path / "new"
    logs.write_reference_log(df, out)
    assert out.read_text() == text
    logs.write_reference_log(df, out, time_format="timedelta")
    assert out.read_text().splitlines()[1].endswith("\t0:00:15.400000")


def test_sun_four_decimal_variant_round_trip(tmp_path):
    df = certify_df().assign(radius=[0.3782, 0.0, 3.8115, 0.6981, 1.9066])
    path = tmp_path / "noise_0.25"
    logs.write_reference_log(df, path, radius_format="{:.4f}")
    lines = path.read_text().splitlines()
    assert lines[3].split("\t")[3] == "3.8115" and lines[2].split("\t")[3] == "0.0000"
    back = logs.read_reference_log(path)
    assert back.attrs["radius_format"] == "{:.4f}"
    np.testing.assert_allclose(back["radius"], df["radius"])
    out = tmp_path / "copy"
    logs.write_reference_log(back, out)
    assert out.read_bytes() == path.read_bytes()


def test_predict_log_round_trip(tmp_path):
    df = certify_df().drop(columns="radius")
    path = tmp_path / "N_100"
    logs.write_reference_log(df, path, kind="predict")
    assert path.read_text().splitlines()[0] == "idx\tlabel\tpredict\tcorrect\ttime"
    back = logs.read_reference_log(path)
    assert back.attrs["kind"] == "predict"
    pd.testing.assert_frame_equal(back, df, check_exact=False, atol=1e-9)


def test_writer_accepts_time_s_and_requires_time(tmp_path):
    df = certify_df().rename(columns={"time": "time_s"})
    logs.write_reference_log(df, tmp_path / "a")
    assert logs.read_reference_log(tmp_path / "a")["time"].iloc[0] == pytest.approx(151.238689)
    with pytest.raises(ValueError, match="'time'"):
        logs.write_reference_log(df.drop(columns="time_s"), tmp_path / "b")
    with pytest.raises(ValueError, match=r"column\(s\) \['radius'\]"):
        logs.write_reference_log(df.drop(columns="radius"), tmp_path / "b")
    with pytest.raises(ValueError, match="kind"):
        logs.write_reference_log(df, tmp_path / "b", kind="ecdf")
    assert not (tmp_path / "b").exists()


# ------------------------------------------------------------------ cost-sensitive logs
def test_cost_sensitive_log_repeated_headers(tmp_path, caplog):
    rows = [
        "0\t3\t3\t0.566\t0.120\t0.566\t0.050\t60000\t2000\t5\t1",
        "1\t3\t-1\t0.597\t-0.069\t0.597\t0.020\t45000\t500\t5\t1",
    ]
    extra = ["2\t3\t5\t0.256\t0.256\t-0.007\t0.875\t20000\t70000\t5\t0"]
    text = "\n".join([CS_HEADER, *rows, CS_HEADER, *extra]) + "\n"
    path = tmp_path / "cs.tsv"
    path.write_text(text)
    with caplog.at_level(logging.WARNING, logger="randsmooth.logs"):
        df = logs.read_reference_log(path)
    assert "repeated header" in caplog.text
    assert len(df) == 3 and df.attrs["repeated_headers"] == 1 and df.attrs["kind"] == "cost_sensitive"
    np.testing.assert_allclose(df["radius"], df["r"])
    np.testing.assert_array_equal(df["nB"], [2000, 500, 70000])
    assert df.attrs["radius_format"] == "{:.3f}"
    out = tmp_path / "cs_clean.tsv"
    logs.write_reference_log(df, out, kind="cost_sensitive")
    assert out.read_text() == "\n".join([CS_HEADER, *rows, *extra]) + "\n"
    # Rob_cs from the imported log (S-Pair toy, code convention)
    assert metrics.rob_cs(df.assign(seed_group=True), 0.5) == pytest.approx(2 / 3)


# --------------------------------------------------------------------------------- errors
def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "weird.tsv"
    bad.write_text("idx\tlabel\tprediction\tradius\n0\t1\t1\t0.5\n")
    with pytest.raises(ValueError, match=r"weird\.tsv: unknown log header"):
        logs.read_reference_log(bad)
    bad.write_text(CERT_HEADER + "\n0\t1\t1\tabc\t1\t0:00:01\n")
    with pytest.raises(ValueError, match=r"weird\.tsv:2: cannot parse column 'radius' value 'abc'"):
        logs.read_reference_log(bad)
    bad.write_text(CERT_HEADER + "\n0\t1\t1\t0.5\t1\n")
    with pytest.raises(ValueError, match=r"weird\.tsv:2: expected 6"):
        logs.read_reference_log(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match="empty"):
        logs.read_reference_log(bad)
    bad.write_text(CERT_HEADER + "\n0\t1\t1\t0.5\t2\t1.0\n")
    with pytest.raises(ValueError, match="'correct'"):
        logs.read_reference_log(bad)


# -------------------------------------------------------------------------- alpha inference
def _synthetic_log(tmp_path, alpha, sigma, name):
    """A certify log written from exact counts at ``alpha`` (incl. saturated rows), read back."""
    n_a = np.array([N, N, N - 1, N - 2, N - 3, N - 5, 99900, 99000, 95000, 90000, 75000, 60000, 50600, 30000])
    labels = np.zeros(len(n_a), dtype=np.int64)
    est = np.zeros((len(n_a), 10), dtype=np.int64)
    est[:, 0] = n_a
    est[:, 1] = N - n_a
    sel = np.zeros_like(est)
    sel[:, 0] = 100
    table = synthetic_table(labels, sel, est, sigma=sigma)
    cert = decide.certify(table, alpha).assign(time=1.0)
    path = tmp_path / name
    logs.write_reference_log(cert, path)
    return logs.read_reference_log(path)


def test_infer_alpha_recovers_alpha(tmp_path):
    log01 = _synthetic_log(tmp_path, 0.01, 0.25, "a01")
    log001 = _synthetic_log(tmp_path, 0.001, 0.25, "a001")
    # Cohen's ladders (Cohen et al. 2019, reference test vectors): sigma = 0.25, alpha = 0.01 top radii
    assert log01["radius"].iloc[:6].tolist() == [0.978, 0.978, 0.955, 0.941, 0.929, 0.913]
    res01 = logs.infer_alpha(log01, N, 0.25, candidates=(0.001, 0.01))
    res001 = logs.infer_alpha(log001, N, 0.25, candidates=(0.001, 0.01))
    assert res01.consistent == (0.01,) and res01.best == 0.01
    assert res001.consistent == (0.001,) and res001.best == 0.001
    assert res01.fraction[0.001] < 1.0 and res001.fraction[0.01] < 1.0
    assert res01.n_checked == 13  # the abstained row is skipped
    assert res01.ceiling[0.01] == 0.978 and res01.ceiling[0.001] == 0.953  # 3.91 sigma vs 3.81 sigma
    assert logs.infer_alpha(log01, N, 0.25, candidates=(0.001,)).best is None


def test_infer_alpha_sigma_012_ladder(tmp_path):
    log = _synthetic_log(tmp_path, 0.001, 0.12, "s012")
    assert log["radius"].iloc[:5].tolist() == [0.457, 0.457, 0.449, 0.443, 0.438]
    assert logs.infer_alpha(log, N, 0.12, candidates=(0.001, 0.01)).consistent == (0.001,)


def test_infer_alpha_errors():
    df = pd.DataFrame({"predict": [-1], "radius": [0.0]})
    with pytest.raises(ValueError, match="no certified"):
        logs.infer_alpha(df, N, 0.25)
    with pytest.raises(ValueError, match="columns predict, radius"):
        logs.infer_alpha(pd.DataFrame({"x": [1]}), N, 0.25)
    with pytest.raises(ValueError, match="sigma"):
        logs.infer_alpha(pd.DataFrame({"predict": [1], "radius": [0.5]}), N, 0.0)


# ------------------------------------------------------------------------------ ECDF files
def test_ecdf_round_trip(tmp_path):
    df = pd.DataFrame({"x": [0.5, 0.5609999999999999, 1.0], "y": [0.80434, 0.7897, 0.1882]})
    path = tmp_path / "gaussian_0.25.csv"
    logs.write_ecdf(df, path)
    assert path.read_text() == "x\ty\n0.5\t0.8043\n0.5609999999999999\t0.7897\n1.0\t0.1882\n"
    back = logs.read_ecdf(path)
    np.testing.assert_allclose(back["x"], df["x"])
    np.testing.assert_allclose(back["y"], [0.8043, 0.7897, 0.1882])
    (tmp_path / "bad.csv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="bad.csv"):
        logs.read_ecdf(tmp_path / "bad.csv")


def test_counts_from_radii_brackets_true_counts(tmp_path):
    log = _synthetic_log(tmp_path, 0.01, 0.25, "inv")
    est = logs.counts_from_radii(log, N, 0.01, 0.25)
    true_na = [N, N, N - 1, N - 2, N - 3, N - 5, 99900, 99000, 95000, 90000, 75000, 60000, 50600]
    assert (est["n_a_min"].iloc[:13] <= true_na).all() and (est["n_a_max"].iloc[:13] >= true_na).all()
    assert est["n_a_min"].iloc[0] == est["n_a_max"].iloc[0] == N  # the top rung is unique
    assert np.isnan(est["n_a_min"].iloc[13])  # abstained row
    wrong_alpha = logs.counts_from_radii(log, N, 0.001, 0.25)
    assert np.isnan(wrong_alpha["n_a_min"].iloc[0])  # 0.978 is above the alpha = 0.001 ceiling
