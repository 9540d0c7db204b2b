"""`cyclescan evaluate` end to end on tiny volumes with a tiny checkpoint."""

from __future__ import annotations

import csv
import json
import math
import shutil

import nibabel as nib
import numpy as np
import pytest

from cyclescan.cli.main import main
from cyclescan.metrics.evaluate import EvalInputs, evaluate
from cyclescan.metrics.results import load_metrics

LABEL_MAP = {"background": 0, "femoral_cartilage": 1, "tibial_cartilage": 2, "patellar_cartilage": 3,
             "fluid": 4, "acl": 5, "muscle": 6}


@pytest.fixture(scope="module")
def result(paired_set, tiny_checkpoint):
    import torch

    torch.set_num_threads(1)
    inputs = EvalInputs(checkpoint=tiny_checkpoint, direction="a2b", source=paired_set["source"],
                        target=paired_set["target"], clean_target=paired_set["clean"],
                        labels=paired_set["labels"], label_map=dict(LABEL_MAP), device="cpu")
    return evaluate(inputs)


def test_schema_and_pairing(result):
    assert result["format"] == "cyclescan-metrics" and result["format_version"] == 1
    assert (result["source_domain"], result["target_domain"], result["epoch"]) == ("ciss", "dess", 3)
    # model_raw, histmatch_detail: the default detail transfer (infer.detail_sigma 1.25) is on for the model
    assert result["methods"] == ["model", "model_raw", "identity", "histmatch", "histmatch_detail"]
    assert result["truths"] == ["clean", "target"]  # the noise-free truth is the headline
    assert [s["name"] for s in result["subjects"]] == ["subject_0000", "subject_0001"]  # unpaired ignored
    for s in result["subjects"]:
        for truth in result["truths"]:
            for method in result["methods"]:
                assert set(result["metrics"]) <= set(s["scores"][truth][method])
    ssim = [s["scores"]["target"]["model"]["ssim"] for s in result["subjects"]]
    assert result["summary"]["target"]["model"]["ssim"]["mean"] == pytest.approx(np.mean(ssim))
    assert result["summary"]["target"]["model"]["ssim"]["n"] == 2
    assert len(result["histograms"]["model"]) == 256


def test_identity_baseline_is_exact_when_target_is_a_rescaled_source(result):
    # target = 2 * source + 10: in the per-volume metric space they are the same volume.
    for truth in ("clean", "target"):
        ident = result["summary"][truth]["identity"]
        assert ident["ssim"]["mean"] == pytest.approx(1.0, abs=1e-6)
        assert ident["mae"]["mean"] == pytest.approx(0.0, abs=1e-6)
        assert ident["kl"]["mean"] == pytest.approx(0.0, abs=1e-6)
        # Tissue signals keep zero (scale-only normalization): exact vs clean (= source), and
        # only the +10 offset of the target shows (< 2 %).
        assert ident["cartilage_rel_error"]["mean"] == pytest.approx(0.0, abs=1e-5 if truth == "clean" else 0.02)
    # An untrained generator is far from it.
    assert result["summary"]["target"]["model"]["ssim"]["mean"] < 0.9


def test_model_kl_is_kl_of_truth_vs_translation(paired_set, tiny_checkpoint, tmp_path):
    """KL(P_truth || Q_model) per subject, from the saved translation, argument order included
    (the identity test above cannot see the order: its KL is 0 both ways)."""
    from cyclescan.data.normalize import NormStats, normalize
    from cyclescan.metrics.kl import histogram_kl
    from cyclescan.metrics.paired import own_normalize
    from cyclescan.train.checkpoint import checkpoint_config, load_checkpoint

    saved = tmp_path / "translated"
    res = evaluate(EvalInputs(checkpoint=tiny_checkpoint, direction="a2b", source=paired_set["source"],
                              target=paired_set["target"], device="cpu", save_translated=saved))
    ckpt = load_checkpoint(tiny_checkpoint)
    d = checkpoint_config(ckpt).data

    def load(path):
        return np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)

    for subj in res["subjects"]:
        # Truth: its own percentile window; translation: the target domain's training window
        # (the model space the generator wrote it from), as docs/evaluation.md defines.
        t = own_normalize(load(paired_set["target"] / f"{subj['name']}.nii.gz"), d.norm_lower_percentile,
                          d.norm_upper_percentile, d.norm_foreground_mask)
        m = normalize(load(saved / f"{subj['name']}.nii.gz"), NormStats.from_dict(ckpt["norm"]["b"]))
        assert subj["scores"]["target"]["model"]["kl"] == pytest.approx(histogram_kl(t, m), rel=1e-4, abs=1e-6)
        assert abs(histogram_kl(t, m) - histogram_kl(m, t)) > 1e-3  # the order is visible here


def test_cli_writes_json_csv_and_table(paired_set, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval" / "metrics.json"
    rc = main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--direction", "b2a",
               "--source", str(paired_set["target"]), "--target", str(paired_set["source"]),
               "--labels", str(paired_set["labels"]), "--out", str(out), "--device", "cpu", "--quiet",
               "--save-translated", str(tmp_path / "translated")])
    assert rc == 0
    doc = load_metrics(out)
    json.loads(out.read_text())  # strict JSON (no NaN tokens)
    assert doc["direction"] == "b2a" and doc["truths"] == ["target"]
    assert (out.parent / doc["examples"]).is_file()
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert {r["method"] for r in rows} == {"model", "model_raw", "identity", "histmatch", "histmatch_detail"}
    assert [r["subject"] for r in rows].count("mean") == 5  # one summary row per method
    assert math.isclose(float(rows[0]["ssim"]), doc["subjects"][0]["scores"]["target"]["model"]["ssim"])
    table = capsys.readouterr().out
    assert "histmatch" in table and "SSIM" in table and "b2a: dess -> ciss" in table
    assert sorted(p.name for p in (tmp_path / "translated").iterdir()) == ["subject_0000.nii.gz", "subject_0001.nii.gz"]


def test_no_pairs_is_a_user_error(paired_set, tiny_checkpoint, tmp_path, capsys):
    empty_names = tmp_path / "other"
    empty_names.mkdir()
    shutil.copy(paired_set["source"] / "unpaired_9999.nii.gz", empty_names / "lonely.nii.gz")
    rc = main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--direction", "a2b", "--source",
               str(empty_names), "--target", str(paired_set["target"]), "--out", str(tmp_path / "m.json")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no paired volumes" in err and "Traceback" not in err


def _eval_args(paired_set, ckpt, out, **extra):
    args = ["evaluate", "--checkpoint", str(ckpt), "--direction", "a2b", "--quiet", "--device", "cpu",
            "--source", str(paired_set["source"]), "--target", str(paired_set["target"]), "--out", str(out)]
    for k, v in extra.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def test_unpaired_volumes_are_named_in_a_warning(paired_set, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    import cyclescan.io

    listed = []
    real = cyclescan.io.list_volumes
    monkeypatch.setattr(cyclescan.io, "list_volumes", lambda folder: listed.append(str(folder)) or real(folder))
    assert main(_eval_args(paired_set, tiny_checkpoint, tmp_path / "m.json")) == 0
    err = capsys.readouterr().err
    assert "warning: 1 volume(s)" in err and "unpaired_9999" in err
    assert err.count("warning:") == 1
    assert sorted(listed) == sorted(set(listed))  # each folder listed once (DICOM listing reads headers)


def test_out_that_is_a_folder_is_refused_before_anything_is_written(paired_set, tiny_checkpoint, tmp_path, capsys):
    (tmp_path / "evd").mkdir()
    assert main(_eval_args(paired_set, tiny_checkpoint, tmp_path / "evd")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evd"] and not any((tmp_path / "evd").iterdir())


def test_intensity_volumes_given_as_labels_are_refused(paired_set, tiny_checkpoint, tmp_path, capsys):
    # non-integer intensities
    assert main(_eval_args(paired_set, tiny_checkpoint, tmp_path / "a.json", labels=paired_set["target"])) == 2
    assert "not a label map (non-integer" in capsys.readouterr().err
    # integer intensities: values the label map does not know
    ints = tmp_path / "ints"
    ints.mkdir()
    for f in sorted(paired_set["labels"].glob("*.nii.gz")):
        img = nib.load(str(paired_set["target"] / f.name))
        nib.save(nib.Nifti1Image(np.rint(np.asarray(img.dataobj)).astype(np.int16), img.affine), str(ints / f.name))
    assert main(_eval_args(paired_set, tiny_checkpoint, tmp_path / "b.json", labels=ints)) == 2
    assert "are not in the label map" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_a_constant_truth_is_named(paired_set, tiny_checkpoint, tmp_path, capsys):
    zeros = tmp_path / "zeros"
    zeros.mkdir()
    for f in sorted(paired_set["target"].glob("*.nii.gz")):
        img = nib.load(str(f))
        nib.save(nib.Nifti1Image(np.zeros(img.shape, np.float32), img.affine), str(zeros / f.name))
    args = _eval_args(paired_set, tiny_checkpoint, tmp_path / "z.json")
    args[args.index("--target") + 1] = str(zeros)
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(err) == 1 and "zeros/subject_0000.nii.gz" in err[0] and "constant" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zeros"]  # no z.json, z.csv or examples


@pytest.mark.parametrize("flag,content", [("--target", "target"), ("--clean-target", "clean"),
                                          ("--labels", "labels")])
def test_two_volumes_with_one_pairing_name_are_refused(paired_set, tiny_checkpoint, tmp_path, capsys, flag, content):
    # a searched tree s1/, s2/ with the same file name: pairing by name would keep one of them
    # silently (which one depended on listing order), so it is a user error naming both files
    tree = tmp_path / "tree"
    for sub in ("s1", "s2"):
        (tree / sub).mkdir(parents=True)
        shutil.copy(paired_set[content] / "subject_0000.nii.gz", tree / sub / "subject_0000.nii.gz")
    args = _eval_args(paired_set, tiny_checkpoint, tmp_path / "m.json")
    if flag == "--target":
        args[args.index(flag) + 1] = str(tree)
    else:
        args += [flag, str(tree)]
    assert main(args) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(err) == 1 and "share the pairing name 'subject_0000'" in err[0], err
    assert "s1/subject_0000.nii.gz" in err[0] and "s2/subject_0000.nii.gz" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_a_missing_clean_partner_is_named(paired_set, tiny_checkpoint, tmp_path, capsys):
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(paired_set["clean"] / "subject_0000.nii.gz", clean / "subject_0000.nii.gz")  # 0001 missing
    assert main(_eval_args(paired_set, tiny_checkpoint, tmp_path / "m.json", clean_target=clean)) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("warning:")]
    assert len(err) == 1 and "no clean target volume named 'subject_0001'" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean"]


def test_detail_sigma_applies_to_the_model_row_only_and_is_recorded(paired_set, tiny_checkpoint, tmp_path):
    """--detail-sigma reaches the model's translation (saved volume = the transfer of the raw one),
    leaves the baselines alone, and metrics.json says which width scored the model."""
    from cyclescan.infer.detail import ratio_detail_transfer

    docs, saved = {}, {}
    for sig in (0.0, 1.25):
        saved[sig] = tmp_path / f"tr{sig}"
        docs[sig] = evaluate(EvalInputs(checkpoint=tiny_checkpoint, direction="a2b", source=paired_set["source"],
                                        target=paired_set["target"], device="cpu", save_translated=saved[sig],
                                        detail_sigma=sig))
        assert docs[sig]["inputs"]["detail_sigma"] == sig
    for name in ("subject_0000", "subject_0001"):
        src = nib.load(str(paired_set["source"] / f"{name}.nii.gz"))
        raw = np.asarray(nib.load(str(saved[0.0] / f"{name}.nii.gz")).dataobj, np.float32)
        on = np.asarray(nib.load(str(saved[1.25] / f"{name}.nii.gz")).dataobj, np.float32)
        spacing = tuple(float(s) for s in np.linalg.norm(src.affine[:3, :3], axis=0))
        expected = ratio_detail_transfer(np.asarray(src.dataobj, np.float32), raw, spacing, 1.25)
        np.testing.assert_allclose(on, expected, rtol=1e-4, atol=1e-3 * float(np.ptp(raw)))
    s0, s1 = docs[0.0]["summary"]["target"], docs[1.25]["summary"]["target"]
    assert s0["model"]["ssim"]["mean"] != s1["model"]["ssim"]["mean"]
    for method in ("identity", "histmatch"):
        assert s0[method]["ssim"]["mean"] == s1[method]["ssim"]["mean"]
    # The baseline with the same post-process, and the raw row, exist only when the model row has it.
    assert docs[0.0]["methods"] == ["model", "identity", "histmatch"]
    assert "histmatch_detail" not in s0 and "model_raw" not in s0
    assert docs[1.25]["methods"][-1] == "histmatch_detail"
    # model_raw is the model without the transfer, from the same generator pass: every score of it
    # equals the model row of the run with --detail-sigma 0.
    for sub0, sub1 in zip(docs[0.0]["subjects"], docs[1.25]["subjects"]):
        raw_row, off_row = sub1["scores"]["target"]["model_raw"], sub0["scores"]["target"]["model"]
        assert raw_row.keys() == off_row.keys()
        for k in raw_row:
            assert math.isclose(raw_row[k], off_row[k], rel_tol=1e-9, abs_tol=1e-12), k
        assert sub1["scores"]["target"]["model"]["ssim"] != raw_row["ssim"]


def test_histmatch_detail_is_histogram_matching_through_the_models_transfer(paired_set, tiny_checkpoint):
    """The row recomputed by hand from public pieces: match the source's own-normalized foreground
    to the checkpoint's target quantiles, put it on the target scale, apply the ratio transfer
    at the model's width and floor, score it like the model."""
    from cyclescan.data.normalize import NormStats, denormalize, foreground_mask
    from cyclescan.infer.detail import ratio_detail_transfer
    from cyclescan.metrics import baselines as bl
    from cyclescan.metrics.paired import own_normalize, paired_scores
    from cyclescan.train.checkpoint import checkpoint_config, load_checkpoint

    doc = evaluate(EvalInputs(checkpoint=tiny_checkpoint, direction="a2b", source=paired_set["source"],
                              target=paired_set["target"], device="cpu", detail_sigma=2.0))
    ckpt = load_checkpoint(tiny_checkpoint)
    d = checkpoint_config(ckpt).data
    stats = NormStats.from_dict(ckpt["norm"]["b"])

    def own01(a):
        return (own_normalize(a, d.norm_lower_percentile, d.norm_upper_percentile, d.norm_foreground_mask) + 1) / 2

    for subj in doc["subjects"]:
        img = nib.load(str(paired_set["source"] / f"{subj['name']}.nii.gz"))
        src = np.asarray(img.dataobj, np.float32)
        tgt = np.asarray(nib.load(str(paired_set["target"] / f"{subj['name']}.nii.gz")).dataobj, np.float32)
        src_norm = own_normalize(src, d.norm_lower_percentile, d.norm_upper_percentile, d.norm_foreground_mask)
        hm = bl.histogram_match(src_norm, bl.reference_from_checkpoint(ckpt, "b"),
                                mask=foreground_mask(src).astype(bool))
        spacing = tuple(float(s) for s in np.linalg.norm(img.affine[:3, :3], axis=0))
        hmd = ratio_detail_transfer(src, denormalize(hm, stats), spacing, 2.0, floor=stats.lo)
        want = paired_scores(own01(hmd), own01(tgt), foreground_mask(tgt).astype(bool))
        got = subj["scores"]["target"]["histmatch_detail"]
        assert got["ssim"] == pytest.approx(want.ssim, abs=1e-5) and got["psnr"] == pytest.approx(want.psnr, abs=1e-3)
        assert got["ssim"] != subj["scores"]["target"]["histmatch"]["ssim"]  # the transfer changed it


def test_a_negative_detail_sigma_is_one_clear_error(paired_set, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["evaluate", "--checkpoint", str(tiny_checkpoint), "--direction", "a2b", "--source",
               str(paired_set["source"]), "--target", str(paired_set["target"]), "--out", str(out),
               "--device", "cpu", "--quiet", "--detail-sigma", "-0.5"])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("warning:")]
    assert rc != 0 and len(err) == 1 and "detail_sigma" in err[0] and "Traceback" not in err[0]
    assert not out.exists() and not out.with_suffix(".csv").exists()
