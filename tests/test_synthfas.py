"""SynthFAS: determinism, counts and contract, protocol split, and that each attack's artefact is really there."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from datasets import Image

from datasets_scripts.contract import check_dataset
from datasets_scripts.synth.domains import DOMAINS, domain_by_name
from datasets_scripts.synth.faces import Framing, load_sources, render_face
from datasets_scripts.synth.lighting import sample_lighting
from datasets_scripts.synth.live import render_live
from datasets_scripts.synth.paper_mask import MaskSetup, cut_alpha, render_mask_video
from datasets_scripts.synth.print_attack import halftone_coverage, print_reflectance, sample_sheet
from datasets_scripts.synth.replay_attack import render_replay_video, sample_screen, subpixel_grid
from datasets_scripts.synthfas import build_synthfas, leave_one_domain_out, main, save_preview

FRAMING = Framing(eye_center=(0.5, 0.42), iod=0.3, roll=0.0, flip=False, yaw=0.0, pitch=0.0)


@pytest.fixture(scope="module")
def corpus():
    return build_synthfas(per_domain=20, size=64, seed=5)


def _peak_share(image: np.ndarray, low: float = 0.05, top: int = 20) -> float:
    """Share of the texture's spectral energy (above `low` cycles/px) held by its `top` strongest bins.

    The texture is the image over its own local mean, so face content and shading drop out; a periodic pattern
    (halftone screen, moire) puts its energy in a few bins, noise and edges spread theirs.
    """
    texture = image / cv2.GaussianBlur(image, (0, 0), 4) - 1
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    spectrum = np.abs(np.fft.fft2((texture - texture.mean()) * window)) ** 2
    fy, fx = np.meshgrid(*(np.fft.fftfreq(n) for n in image.shape), indexing="ij")
    band = np.sort(spectrum[np.hypot(fx, fy) > low])
    return float(band[-top:].sum() / band.sum())


def _high_energy(gray: np.ndarray, cutoff: float = 0.2) -> float:
    spectrum = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
    fy, fx = np.meshgrid(*(np.fft.fftfreq(n) for n in gray.shape), indexing="ij")
    return float(spectrum[np.hypot(fx, fy) > cutoff].sum() / spectrum.sum())


def test_sources_load_offline():
    sources = load_sources()
    assert [s.name for s in sources] == ["astronaut", "grace_hopper"]
    assert all(s.pyramid[0].ndim == 3 and s.pyramid[0].max() <= 1.0 for s in sources)


def test_deterministic_given_seed():
    first = build_synthfas(per_domain=3, size=48, seed=11, domains=("synth_b",))
    again = build_synthfas(per_domain=3, size=48, seed=11, domains=("synth_b",))
    other = build_synthfas(per_domain=3, size=48, seed=12, domains=("synth_b",))

    def images(corpus):
        raw = {split: corpus[split].cast_column("image", Image(decode=False)) for split in sorted(corpus)}
        return [row["bytes"] for split in raw.values() for row in split["image"]]

    assert images(first) == images(again)
    assert images(first) != images(other)


def test_counts_labels_domains_and_contract(corpus):
    check_dataset(corpus, where="SynthFAS test corpus")
    rows = [row for split in corpus for row in corpus[split].remove_columns("image")]
    for domain in DOMAINS:
        mine = [r for r in rows if r["dataset"] == domain.name]
        assert len(mine) == 20
        assert {r["attack_type"] for r in mine} == {"none", "print", "replay", "mask"}
    for row in rows:
        assert row["label"] == (row["attack_type"] != "none")
        assert row["caption"] == "" and row["caption_source"] == ""
        prefixes = {"none": "live", "print": "print:", "replay": "replay:", "mask": "mask:paper_cutout"}
        assert row["attack_detail"].startswith(prefixes[row["attack_type"]])
    videos = {}
    for row in rows:
        videos.setdefault(row["video_id"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in videos.values())
    live_subjects = {r["subject"] for r in rows if r["label"] == 0}
    spoof_subjects = {r["subject"] for r in rows if r["label"] == 1}
    assert live_subjects == spoof_subjects == {"astronaut", "grace_hopper"}
    assert corpus["train"][0]["image"].size == (64, 64)


def test_leave_one_domain_out(corpus, tmp_path):
    train, dev, test = leave_one_domain_out(corpus, "synth_c")
    assert "synth_c" not in set(train["dataset"]) | set(dev["dataset"])
    assert set(test["dataset"]) == {"synth_c"} and len(train) and len(dev)
    assert len(test) == sum(name == "synth_c" for split in corpus.values() for name in split["dataset"])
    corpus.save_to_disk(str(tmp_path / "saved"))
    assert len(leave_one_domain_out(tmp_path / "saved", "synth_c")[2]) == len(test)
    with pytest.raises(ValueError, match="synth_z"):
        leave_one_domain_out(corpus, "synth_z")


def test_am_print_adds_periodic_halftone_energy():
    content, _ = render_face(load_sources()[0], FRAMING, 256)
    printed = print_reflectance(content, domain_by_name("synth_d").printer, cell=4.0, blur=0.3)
    assert _peak_share(printed.mean(axis=2)) > 3 * _peak_share(content.mean(axis=2) + 1e-3)
    assert _high_energy(printed.mean(axis=2)) > 5 * _high_energy(content.mean(axis=2))


def test_fm_print_adds_dot_grain_and_compresses_gamut():
    printer = domain_by_name("synth_c").printer
    coverage = np.zeros((4, 128, 128), np.float32)
    coverage[:, :, 64:] = 0.5
    laid = halftone_coverage(coverage, printer, cell=0.5, blur=0.3)
    assert laid[:, :, :64].std() == 0 and laid[:, :, 64:].std() > 0.05  # grain only where ink is screened
    content, _ = render_face(load_sources()[1], FRAMING, 256)
    printed = print_reflectance(content, printer, cell=0.5, blur=0.3)
    assert printed.min() > 0.05 and printed.max() < 0.95  # ink black and paper white bound the print
    assert content.min() < 0.01


def test_replay_grid_aliases_into_moire():
    sy, sx = np.mgrid[0:128, 0:128].astype(np.float32) / 0.9  # 0.9 sensor px per screen px
    grid = subpixel_grid("rgb_stripe", sx, sy, pitch=0.9, blur=0.3, fill=0.75)
    assert _peak_share(grid[..., 1]) > 0.5
    flat = subpixel_grid("rgb_stripe", sx, sy, pitch=0.9, blur=3.0, fill=0.75)  # defocused: no moire
    assert np.ptp(flat) < 0.05


def test_replay_frame_has_moire_peak_that_live_lacks():
    domain = domain_by_name("synth_a")
    rng = np.random.default_rng(3)
    lighting = sample_lighting(rng, domain.room_kelvin)
    setup = sample_screen(rng, domain.screen, 256)
    setup = type(setup)(**{**setup.__dict__, "pitch": 1.4, "glare": (0, 0, 0.1, 0.0), "banding": (0.0, 10.0, 0.0),
                           "active_rect": (-1.0, -1.0, 2.0, 2.0), "reflection": 0.0})
    source = load_sources()[0]
    replay = render_replay_video(source, FRAMING, setup, domain.screen, lighting, 256, 0.3, [rng])[0]
    live = render_live(source, FRAMING, lighting, 256)
    assert _peak_share(replay[..., 0]) > 2 * _peak_share(live[..., 0] + 1e-3)  # stripes alias per colour


def test_paper_mask_has_eye_holes_showing_the_wearer():
    marks = {"left_eye": (40.0, 50.0), "right_eye": (80.0, 50.0), "mouth": (60.0, 90.0)}
    alpha = cut_alpha(128, marks, oval=True, hole_scale=1.0, rng=np.random.default_rng(0))
    assert alpha[50, 40] < 0.1 and alpha[50, 80] < 0.1 and alpha[75, 60] > 0.9 and alpha[2, 2] < 0.1
    domain = domain_by_name("synth_a")
    rng = np.random.default_rng(1)
    lighting = sample_lighting(rng, domain.room_kelvin)
    astronaut, hopper = load_sources()
    setup = MaskSetup(sheet=sample_sheet(rng, domain.printer, edges=0.0, curl=0.0), oval=False, hole_scale=1.0,
                      cut_seed=0, wearer=hopper, wearer_shift=(0.0, 0.0))
    px = domain.camera.sensor_px
    frame = render_mask_video(astronaut, FRAMING, setup, domain.printer, lighting, px, 0.5, [rng])[0]
    wearer = render_live(hopper, FRAMING, lighting, px)
    eye = (int(0.42 * px), int((0.5 - 0.15) * px))
    cheek = (int(0.62 * px), int((0.5 - 0.12) * px))

    def box(img, c):
        return img[c[0] - 2 : c[0] + 3, c[1] - 2 : c[1] + 3].mean(axis=(0, 1))

    through_hole = np.abs(box(frame, eye) - box(wearer, eye)).mean()
    on_paper = np.abs(box(frame, cheek) - box(wearer, cheek)).mean()
    assert through_hole < 0.5 * on_paper


def test_cli_builds_resumes_and_previews(tmp_path, caplog):
    out = tmp_path / "synthfas"
    main(["--out", str(out), "--per_domain", "2", "--size", "32", "--domains", "synth_a"])
    assert (out / "dataset_dict.json").exists() and (out / "synthfas_config.json").exists()
    with caplog.at_level("INFO"):
        main(["--out", str(out), "--per_domain", "2", "--size", "32", "--domains", "synth_a"])
    assert "already holds this build" in caplog.text
    preview = save_preview(tmp_path / "sheet.png", size=32, per_row=1)
    assert preview.stat().st_size > 1000


def test_every_domain_has_both_kinds_of_printer_and_screen_and_uses_both():
    """Print vs. replay must differ by the medium in every domain, not by one device each: an AM and an FM printer,
    a stripe LCD and a pentile OLED per domain, no device shared between domains, and videos draw both."""
    names = []
    for domain in DOMAINS:
        assert sorted(p.screening for p in domain.printers) == ["am", "fm"]
        assert sorted(s.layout == "pentile" for s in domain.screens) == [False, True]
        names += [device.name for device in domain.printers + domain.screens]
    assert len(names) == len(set(names))
    corpus = build_synthfas(per_domain=60, size=32, seed=1, domains=("synth_b",), mix={"print": 0.5, "replay": 0.5})
    details = {row.split(":")[1] for split in corpus.values() for row in split["attack_detail"]}
    assert details == {device.name for device in domain_by_name("synth_b").printers + domain_by_name("synth_b").screens}


def test_identity_variation_changes_face_proportions_and_tone():
    """`aspect` widens the face about the eyes (inter-ocular distance x aspect, eye-mouth height kept); `tone` scales
    the linear reflectance per channel and `tone_gamma` raises it to a power."""
    from dataclasses import replace

    source = load_sources()[0]
    plain, marks = render_face(source, FRAMING, 128)
    wide, wide_marks = render_face(source, replace(FRAMING, aspect=1.15), 128)

    def iod(m):
        return float(np.hypot(*np.subtract(m["right_eye"], m["left_eye"])))

    def eye_mouth(m):
        return m["mouth"][1] - (m["left_eye"][1] + m["right_eye"][1]) / 2

    dx, dy = np.subtract(source.right_eye, source.left_eye)  # the photo's eyes are not quite level
    assert iod(wide_marks) == pytest.approx(np.hypot(1.15 * dx, dy) / np.hypot(dx, dy) * iod(marks), rel=1e-6)
    assert eye_mouth(wide_marks) == pytest.approx(eye_mouth(marks), rel=0.01)
    toned, _ = render_face(source, replace(FRAMING, tone=(1.2, 1.0, 0.7), tone_gamma=1.3), 128)
    np.testing.assert_allclose(toned, np.power(plain, 1.3) * np.array([1.2, 1.0, 0.7], dtype=np.float32), rtol=1e-5)
