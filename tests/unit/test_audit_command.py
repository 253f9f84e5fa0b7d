# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam audit`` on tiny synthetic "good" folders: files, ranking, reuse of the models' scoring, errors."""

import argparse
import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tests.conftest import tree_digest

from anomalib_contam import DevNet, audit_command, cli
from anomalib_contam.audit_command import (
    PADIM_DEFAULTS,
    anomaly_maps,
    detect_model_name,
    heatmap_overlay,
    load_model,
    main,
    make_folder_dataset,
    model_arguments,
    progress_enabled,
)
from anomalib_contam.components.audit import AUDIT_COLUMNS
from anomalib_contam.components.images import list_images

os.environ["HF_HUB_OFFLINE"] = "1"
REPO = Path(__file__).resolve().parents[2]
TINY_ADL = ["--model", "ADL", "--image-size", "64", "--epochs", "1", "--steps-per-epoch", "2",
            "--set", "pretrained=false", "--set", "batch_normal=3", "--set", "batch_pseudo=3"]  # fmt: skip


def make_good_folder(
    root: Path, n: int = 20, size: int = 64, blobs: tuple[int, ...] = (3, 11), spread: bool = False
) -> Path:
    """Textured "good" images in two subfolders; images in ``blobs`` carry a bright square (a defect).

    The squares sit at the same place in every defective image unless ``spread`` moves each elsewhere.
    """
    rng = np.random.default_rng(0)
    for i in range(n):
        texture = rng.normal(120, 12, (size, size)).clip(0, 255)
        image = np.repeat(texture[..., None], 3, axis=2).astype(np.uint8)
        if i in blobs:
            row, col = (8 + (i * 7) % 32, 36 - (i * 7) % 32 // 2) if spread else (20, 20)
            image[row : row + 16, col : col + 16] = 250
        path = root / ("line_a" if i % 2 else "line_b") / f"part_{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return root


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def adl_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One tiny ADL trained by the command on a 20-image folder (shared by the tests below)."""
    base = tmp_path_factory.mktemp("audit")
    folder = make_good_folder(base / "good")
    digest = tree_digest(folder)
    output = base / "out"
    code = main(["--images", str(folder), "--output", str(output), "--top", "8", *TINY_ADL])
    checkpoints = sorted((output / "run").rglob("*.ckpt"))
    return {"code": code, "folder": folder, "digest": digest, "output": output, "ckpt": checkpoints[0]}


def test_fresh_adl_run_writes_ranked_csv_page_thumbnails_and_checkpoint(adl_run: dict) -> None:
    assert adl_run["code"] == 0
    output, folder = adl_run["output"], adl_run["folder"]
    rows = read_csv(output / "training_audit.csv")
    assert list(rows[0]) == AUDIT_COLUMNS  # the same format as a training run's audit
    assert [int(r["rank"]) for r in rows] == list(range(1, 21))
    assert {r["image_path"] for r in rows} == {str(p.resolve()) for p in list_images(folder)}
    scores = [float(r["suspicion"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["is_injected"] == "" for r in rows)  # the truth of a real folder is unknown
    assert any(r["last_weight"] for r in rows)  # ADL's instance weights from training are carried over
    assert (output / "training_audit_sheet.png").is_file()
    assert not (output / "training_audit_summary.json").exists()

    page = (output / "audit.html").read_text()
    shown = re.findall(r'<td class="file">([^<]+)</td>', page)
    expected = [Path(r["image_path"]).relative_to(folder.resolve()).as_posix() for r in rows[:8]]
    assert shown == expected  # the 8 most suspicious, in rank order, named relative to the folder
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 16
    for source in sources:
        assert not source.startswith(("/", "file:", "http")), source
        with Image.open(output / source) as image:
            assert image.size == (160, 160)
    assert "<script" not in page
    assert "http" not in page  # no network resources
    with Image.open(output / "thumbs/00001.png") as thumb, Image.open(output / "thumbs/00001_map.png") as heat:
        assert np.abs(np.asarray(thumb, dtype=int) - np.asarray(heat.convert("RGB"), dtype=int)).mean() > 5
    assert len(list((output / "thumbs").glob("*.png"))) == 16
    assert adl_run["ckpt"].is_file()
    assert tree_digest(folder) == adl_run["digest"]  # nothing written in the audited folder


def test_checkpoint_audit_reuses_the_models_scoring(adl_run: dict, tmp_path: Path) -> None:
    output = tmp_path / "from_ckpt"
    assert main(["--images", str(adl_run["folder"]), "--ckpt", str(adl_run["ckpt"]), "--output", str(output)]) == 0
    rows = read_csv(output / "training_audit.csv")
    fresh = {r["image_path"]: float(r["suspicion"]) for r in read_csv(adl_run["output"] / "training_audit.csv")}
    # The reloaded checkpoint scores exactly like the model that was just trained.
    assert {r["image_path"]: float(r["suspicion"]) for r in rows} == pytest.approx(fresh, abs=1e-5)
    assert all(r["last_weight"] == "" for r in rows)  # no training here: no instance weights
    model, name = load_model(adl_run["ckpt"])
    assert name == "ADL"
    dataset = make_folder_dataset([p.resolve() for p in list_images(adl_run["folder"])])
    own = {r.image_path: r.suspicion for r in model.audit_training_images(dataset)}
    assert {r["image_path"]: float(r["suspicion"]) for r in rows} == pytest.approx(own, abs=1e-5)
    # The page shows 20 (default --top 100 > 20) rows.
    assert (output / "audit.html").read_text().count('<td class="file">') == 20


def test_anomaly_maps_are_the_models_maps_and_overlay_uses_a_shared_scale(adl_run: dict) -> None:
    model, _ = load_model(adl_run["ckpt"])
    files = [p.resolve() for p in list_images(adl_run["folder"])]
    dataset = make_folder_dataset(files)
    maps = anomaly_maps(model, dataset, [0, 5])
    assert set(maps) == {str(files[0]), str(files[5])}
    image = dataset[5].image[None]
    with torch.no_grad():
        expected = model.model.eval()(model.pre_processor.transform(image)).anomaly_map[0, 0]
    assert maps[str(files[5])].shape == (64, 64)
    assert torch.allclose(maps[str(files[5])], expected, atol=1e-6)

    thumb = Image.new("RGB", (40, 40), (128, 128, 128))
    anomaly_map = torch.zeros(8, 8)
    anomaly_map[:4, :4] = 1.0
    overlay = np.asarray(heatmap_overlay(thumb, anomaly_map, 0.0, 1.0), dtype=int)
    hot, cold = overlay[2, 2], overlay[-3, -3]
    assert hot[0] > hot[2] + 40  # high values red
    assert cold[2] > cold[0] + 40  # low values blue
    # On a wider scale the same map is no longer "hot".
    cooler = np.asarray(heatmap_overlay(thumb, anomaly_map, 0.0, 10.0), dtype=int)[2, 2]
    assert cooler[0] < hot[0]


def test_detects_the_model_from_hyper_parameters_or_weights(adl_run: dict) -> None:
    checkpoint = torch.load(adl_run["ckpt"], map_location="cpu", weights_only=False)
    assert detect_model_name(checkpoint) == "ADL"
    assert detect_model_name({"hyper_parameters": {}, "state_dict": {"model.student.0.w": 0, "model.ae.x": 0}}) == "AD2"
    assert detect_model_name({"hyper_parameters": {}, "state_dict": {"model.gaussian.mean": 0}}) == "PaDiM"
    with pytest.raises(Exception, match="not an ADL, AD2 or PaDiM checkpoint"):
        detect_model_name({"hyper_parameters": {"batch_anomalous": 2}, "state_dict": {"model.head.w": 0}}, "x.ckpt")


def _error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("anomalib-contam audit: error:")
    return err


def test_clear_errors_name_the_path_or_parameter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nowhere"
    assert f"'{missing}': no such folder" in _error(capsys, ["--images", str(missing), "--model", "ADL"])
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no images here")
    err = _error(capsys, ["--images", str(empty), "--model", "ADL", "--output", str(tmp_path / "o")])
    assert f"'{empty}' holds no images" in err
    folder = make_good_folder(tmp_path / "good", n=2)
    before = tree_digest(folder)
    err = _error(capsys, ["--images", str(folder), "--model", "ADL", "--output", str(folder / "audit")])
    assert "inside the image folder" in err
    assert tree_digest(folder) == before
    err = _error(capsys, ["--images", str(folder), "--output", str(tmp_path / "o")])
    assert "--ckpt" in err
    assert "--model" in err

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint")
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(garbage), "--output", str(tmp_path / "o")])
    assert f"--ckpt '{garbage}' cannot be read" in err
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(tmp_path / "gone.ckpt"), "--output", str(tmp_path)])
    assert "gone.ckpt': no such file" in err
    other = tmp_path / "devnet.ckpt"  # a DevNet's hyper-parameters and weights, as Lightning saves them
    devnet = DevNet(pretrained=False, image_size=64, visualizer=False)
    torch.save({"hyper_parameters": dict(devnet.hparams), "state_dict": devnet.state_dict()}, other)
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(other), "--output", str(tmp_path / "o")])
    assert "is not an ADL, AD2 or PaDiM checkpoint" in err
    assert "batch_anomalous" in err
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(other), "--model", "ADL", "--output", str(tmp_path)])
    assert "not both" in err
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(other), "--epochs", "3", "--output", str(tmp_path)])
    assert "--epochs: training options" in err
    err = _error(capsys, ["--images", str(folder), "--model", "PatchCore", "--output", str(tmp_path / "o")])
    assert "--model must be one of ['ADL', 'AD2', 'PaDiM']" in err
    err = _error(capsys, ["--images", str(folder), "--model", "PaDiM", "--epochs", "3", "--output", str(tmp_path)])
    assert "--epochs does not apply to PaDiM" in err
    err = _error(capsys, ["--images", str(folder), "--model", "ADL", "--set", "wings=2", "--output", str(tmp_path)])
    assert "ADL has no parameter 'wings'" in err
    assert not (tmp_path / "o").exists()  # nothing was trained or written on an error


def test_unreadable_image_is_named(tmp_path: Path, capsys: pytest.CaptureFixture, adl_run: dict) -> None:
    folder = make_good_folder(tmp_path / "good", n=3)
    broken = folder / "line_a" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(adl_run["ckpt"]), "--output", str(tmp_path / "o")])
    assert "broken.png" in err


def test_config_then_flags_build_the_model_arguments() -> None:
    parser_args = {"model": None, "config": str(REPO / "configs/model/adl_cpu.yaml"), "image_size": 64,
                   "epochs": 1, "steps_per_epoch": None, "set": ["pretrained=false", "batch_normal=2"]}  # fmt: skip
    name, init_args = model_arguments(argparse.Namespace(**parser_args))
    assert name == "ADL"
    assert init_args["image_size"] == 64  # flag over config
    assert init_args["num_epochs"] == 1
    assert init_args["steps_per_epoch"] == 20  # from the config
    assert init_args["pretrained"] is False
    assert init_args["batch_normal"] == 2
    assert init_args["audit"] is False  # the command audits every image itself
    with pytest.raises(Exception, match="is a ADL config"):
        model_arguments(argparse.Namespace(**{**parser_args, "model": "AD2"}))
    # PaDiM: the benchmarks' packaged-backbone settings unless a config or --set says otherwise.
    padim = {**parser_args, "model": "padim", "config": None, "image_size": None, "epochs": None, "set": None}
    name, init_args = model_arguments(argparse.Namespace(**padim))
    assert name == "PaDiM"
    assert init_args == {**PADIM_DEFAULTS, "visualizer": False}  # stock Padim has no `audit` argument
    name, init_args = model_arguments(argparse.Namespace(**{**padim, "set": ["n_features=50", "pre_trained=false"]}))
    assert (init_args["n_features"], init_args["pre_trained"], init_args["layers"]) == (
        50,
        False,
        ["blocks.1", "blocks.2", "blocks.4"],
    )
    # Another backbone: anomalib's own PaDiM defaults (layers) for everything not set.
    _, init_args = model_arguments(argparse.Namespace(**{**padim, "set": ["backbone=resnet18"]}))
    assert init_args == {"backbone": "resnet18", "visualizer": False}


def test_weights_that_cannot_be_loaded_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Offline:
        def __init__(self, backbone: str = "", visualizer: bool = True) -> None:
            del backbone, visualizer
            raise OSError("cannot find the requested files in the local cache")

    monkeypatch.setattr("anomalib_contam.audit_command._model_class", lambda name: ("PaDiM", Offline))
    folder = make_good_folder(tmp_path / "good", n=2)
    err = _error(capsys, ["--images", str(folder), "--model", "PaDiM", "--set", "backbone=resnet18",
                          "--output", str(tmp_path / "o")])  # fmt: skip
    assert "PaDiM(backbone='resnet18'" in err
    assert "local cache" in err
    assert "offline?" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(
    adl_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert not progress_enabled(False, io.StringIO())
    assert progress_enabled(False, _Terminal())
    assert not progress_enabled(True, _Terminal())
    args = ["--images", str(adl_run["folder"]), "--ckpt", str(adl_run["ckpt"]), "--top", "3"]
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main([*args, "--output", str(tmp_path / "a")]) == 0
    assert "scoring" in terminal.getvalue()
    assert "20/20" in terminal.getvalue()
    assert "anomaly maps" in terminal.getvalue()
    quiet = _Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main([*args, "--output", str(tmp_path / "b"), "--no-progress"]) == 0
    assert "scoring" not in quiet.getvalue()


def test_default_output_is_results_audit_folder_name(
    adl_run: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    folder = adl_run["folder"]
    monkeypatch.chdir(tmp_path)
    assert main(["--images", str(folder), "--ckpt", str(adl_run["ckpt"]), "--top", "2"]) == 0
    assert (tmp_path / "results" / "audit" / folder.name / "audit.html").is_file()
    assert (tmp_path / "results" / "audit" / folder.name / "training_audit.csv").is_file()
    monkeypatch.chdir(folder / "line_a")  # the default output would land inside the audited folder
    before = tree_digest(folder)
    err = _error(capsys, ["--images", str(folder), "--ckpt", str(adl_run["ckpt"])])
    assert "inside the image folder" in err
    assert tree_digest(folder) == before


def test_cli_dispatches_audit(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert "audit" in cli.OWN_COMMANDS
    assert cli.main(["audit", "--images", str(tmp_path / "missing"), "--model", "ADL"]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.integration  # AD2 needs 256 px inputs: the slowest test here (about 30 s on 2 CPU cores)
def test_ad2_fresh_run_and_checkpoint(tmp_path: Path) -> None:
    folder = make_good_folder(tmp_path / "good", n=4, blobs=(2,))
    output = tmp_path / "ad2"
    args = ["--images", str(folder), "--model", "AD2", "--epochs", "1", "--steps-per-epoch", "2",
            "--set", "model_size=small", "--set", "batch_size=2", "--top", "3"]  # fmt: skip
    assert main([*args, "--output", str(output)]) == 0
    rows = read_csv(output / "training_audit.csv")
    assert len(rows) == 4
    assert all(r["times_flagged"] != "" for r in rows)  # ATDR's removals from training are carried over
    assert sum(int(r["times_flagged"]) for r in rows) == 2  # one removal per step
    assert (output / "audit.html").read_text().count('<td class="file">') == 3
    checkpoint = sorted((output / "run").rglob("*.ckpt"))[0]
    again = tmp_path / "ad2_ckpt"
    assert main(["--images", str(folder), "--ckpt", str(checkpoint), "--output", str(again), "--top", "3"]) == 0
    reloaded = {r["image_path"]: float(r["suspicion"]) for r in read_csv(again / "training_audit.csv")}
    assert reloaded == pytest.approx({r["image_path"]: float(r["suspicion"]) for r in rows}, abs=1e-4)
    with Image.open(again / "thumbs/00001_map.png") as heat:
        assert heat.size == (160, 160)


def test_padim_fits_the_folder_ranks_its_own_images_and_reloads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Images 3 and 11 carry a bright square, each at its own place: a Gaussian fitted on a folder whose
    # defects recur at one place learns them as normal there (a limit of ranking a folder by its own fit).
    folder = make_good_folder(tmp_path / "good", spread=True)
    digest = tree_digest(folder)
    output = tmp_path / "padim"
    # Eight feature dimensions: a Gaussian that 20 images can estimate (the default 100 could not, see below).
    args = ["--images", str(folder), "--model", "PaDiM", "--set", "n_features=8", "--top", "4"]
    assert main([*args, "--output", str(output)]) == 0
    captured = capsys.readouterr()
    assert "audited 20 images with PaDiM" in captured.out
    assert "warning" not in captured.err
    rows = read_csv(output / "training_audit.csv")
    assert len(rows) == 20
    assert {Path(r["image_path"]).name for r in rows[:2]} == {"part_003.png", "part_011.png"}
    assert all(r["last_weight"] == r["is_injected"] == "" for r in rows)  # no instance weights, no truth
    page = (output / "audit.html").read_text()
    assert "Model: <b>PaDiM</b>" in page
    assert "Mahalanobis" in page
    assert page.count('<td class="file">') == 4
    with Image.open(output / "thumbs/00001.png") as thumb, Image.open(output / "thumbs/00001_map.png") as heat:
        assert np.abs(np.asarray(thumb, dtype=int) - np.asarray(heat.convert("RGB"), dtype=int)).mean() > 5
    assert tree_digest(folder) == digest

    checkpoint = sorted((output / "run").rglob("*.ckpt"))[0]
    model, name = load_model(checkpoint)
    assert name == "PaDiM"
    assert model.hparams["n_features"] == 8
    again = tmp_path / "padim_ckpt"
    assert main(["--images", str(folder), "--ckpt", str(checkpoint), "--output", str(again), "--top", "4"]) == 0
    reloaded = {r["image_path"]: float(r["suspicion"]) for r in read_csv(again / "training_audit.csv")}
    assert reloaded == pytest.approx({r["image_path"]: float(r["suspicion"]) for r in rows}, rel=1e-4)

    # The default 100 dimensions from 20 images: the command says the ranking is unreliable.
    assert main(["--images", str(folder), "--model", "PaDiM", "--output", str(tmp_path / "wide"), "--top", "1"]) == 0
    assert "unreliable" in capsys.readouterr().err


def test_padim_fit_batch_size_sets_memory_not_the_ranking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_good_folder(tmp_path / "good", spread=True)
    args = ["--images", str(folder), "--model", "PaDiM", "--set", "n_features=8", "--top", "1"]
    scores = []
    for batch_size in (3, 32):  # 3 leaves a short last batch; 32 takes the 20 images at once
        monkeypatch.setattr(audit_command, "PADIM_FIT_BATCH_SIZE", batch_size)
        output = tmp_path / f"batch_{batch_size}"
        assert main([*args, "--output", str(output)]) == 0
        scores.append({r["image_path"]: float(r["suspicion"]) for r in read_csv(output / "training_audit.csv")})
    assert scores[0] == pytest.approx(scores[1], rel=1e-4)
