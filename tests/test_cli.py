"""The CLI end to end on tiny data, and the bad-input table: message and exit code per case."""

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from amc import __version__
from amc.cli import app

runner = CliRunner()
TINY = ["--conv-channels", "16", "--rnn-hidden", "16", "--denoiser-channels", "8", "--dense", "32",
        "--batch-size", "64", "--no-progress"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_version_and_module_entry():
    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output


@pytest.fixture(scope="module")
def cli_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    path = d / "d.h5"
    r = invoke("data", "synth", "--out", path, "--classes", "BPSK,QPSK,AM-DSB", "--snrs", "-10,0,10", "--frames", "16")
    assert r.exit_code == 0, r.output
    assert "wrote 144 frames (3 classes x 3 SNRs, L=128, " in r.output
    return path


def test_data_info(cli_data):
    r = invoke("data", "info", cli_data)
    assert r.exit_code == 0, r.output
    assert "144 frames, L=128, 3 classes, 3 SNRs (-10..10 dB), clean frames: yes" in " ".join(r.output.split())
    assert "BPSK" in r.output and "48" in r.output


def test_synth_is_reproducible_from_the_cli(tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    for p in (a, b):
        # the old positional OUT still works (a hidden alias of --out for one release)
        r = invoke("data", "synth", p, "--classes", "QPSK", "--snrs", "0", "--frames", "4", "--seed", "5")
        assert r.exit_code == 0
    import h5py

    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert np.array_equal(fa["X"][:], fb["X"][:]) and np.array_equal(fa["clean"][:], fb["clean"][:])


def test_import_rml2016(tmp_path):
    src = tmp_path / "RML2016.10a_dict.pkl"
    data = {(m, s): np.random.default_rng(0).standard_normal((3, 2, 128)).astype(np.float32)
            for m in ("QPSK", "BPSK") for s in (-2, 4)}
    src.write_bytes(pickle.dumps(data, protocol=2))
    r = invoke("data", "import", "rml2016", src, "--out", tmp_path / "o.h5")
    assert r.exit_code == 0, r.output
    assert "imported 12 frames (2 classes, SNR -2..4 dB, L=128)" in " ".join(r.output.split())


def test_train_and_compare(cli_data, tmp_path):
    runs = []
    for name in ("a3", "a4"):
        out = tmp_path / name
        r = invoke("train", cli_data, "--preset", name, "--out", out, "--epochs", "1", *TINY)
        assert r.exit_code == 0, r.output
        assert "best val_acc" in r.output
        runs.append(out)
    cfg = json.loads((runs[1] / "config.json").read_text())
    assert cfg["model"]["conv_channels"] == 16 and cfg["train"]["preset"] == "a4"
    r = invoke("compare", *runs, "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [x["run"] for x in rows] == [str(p) for p in runs] and rows[0]["delta"]["val_acc"] == 0.0
    r = invoke("compare", *runs, "--markdown")
    assert r.output.startswith("| run | epoch | val_acc % | low % | mid % | high % |")


BAD = [  # (args after the command, expected exit code, expected message fragment)
    (["train", "--preset", "a44"], 2, "'a44' is not one of 'cldnn', 'a3', 'a4', 'a5'"),
    (["train", "--epochs", "0"], 2, "epochs (--epochs) must be in range 1<=x<=100000, got 0"),
    (["train", "--batch-size", "-4"], 2, "batch_size (--batch-size) must be in range 1<=x<=1048576, got -4"),
    (["train", "--mixup-alpha", "0"], 2, "mixup_alpha (--mixup-alpha) must be in range 0<x<=1000"),
    (["train", "--mixup-prob", "1.5"], 2, "mixup_prob (--mixup-prob) must be in range 0<=x<=1"),
    (["train", "--bands", "low=-14:-6,mid=-8:6"], 2, "overlap"),
    (["train", "--bands", "low=0:-6"], 2, "--bands low '0:-6': need lo <= hi"),
    (["train", "--bands", "nonsense"], 2, "cannot parse --bands"),
    (["train", "--select-metric", "band:lo"], 2, "did you mean 'band:low'"),
    (["train", "--rnn", "lstn"], 2, "'lstn' is not one of 'lstm', 'gru'"),
    (["data", "synth", "{tmp}/x.h5", "--class-set", "rml2017"], 2, "'rml2017' is not one of 'rml2016', 'rml2018'"),
    (["train", "--threads", "-1"], 2, "threads (--threads) must be in range 0<=x<=1024"),
    (["data", "synth", "{tmp}/x.h5", "--classes", "QPKS"], 2, "unknown rml2016 class 'QPKS' (did you mean 'QPSK'?)"),
    (["data", "synth", "{tmp}/x.h5", "--frames", "0"], 2, "(--frames) must be in range 1<=x<=1000000"),
    (["data", "synth", "{tmp}/x.h5", "--snrs", "a:b"], 2, "cannot parse --snrs"),
    (["data", "info", "{tmp}/missing.h5"], 2, "no such file"),
    (["data", "info", "{tmp}/notes.txt"], 2, "not an HDF5 file"),
    (["data", "import", "rml2016", "{tmp}/evil.pkl", "--out", "{tmp}/o.h5"], 2, "refusing to load it"),
    (["compare", "{tmp}"], 2, "no summary.json"),
]


@pytest.mark.parametrize("args,code,message", BAD, ids=[" ".join(b[0][:3]) + f" #{i}" for i, b in enumerate(BAD)])
def test_bad_input_table(cli_data, tmp_path, args, code, message):
    (tmp_path / "notes.txt").write_text("not hdf5")

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({("QPSK", 0): Evil()}, protocol=2))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "train":
        args = ["train", str(cli_data), "--out", str(tmp_path / "run"), *TINY, *args[1:]]
    r = runner.invoke(app, args)
    assert r.exit_code == code, r.output
    text = " ".join(r.output.split())
    assert message in text, text
    assert "Traceback" not in r.output
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "o.h5").exists()


def test_existing_outputs_refused_without_overwrite(cli_data, tmp_path):
    r = invoke("data", "synth", "--out", cli_data, "--frames", "1")
    assert r.exit_code == 2 and "pass --overwrite" in r.output
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    r = invoke("train", "--data", cli_data, "--out-dir", out, "--epochs", "1", *TINY)  # old spellings: hidden aliases
    assert r.exit_code == 2 and "--overwrite" in r.output and (out / "precious.txt").exists()
