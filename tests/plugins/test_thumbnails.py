"""Gallery thumbnails drawn once per release into its folder, by ``vlforge thumbnails`` or the first view."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from dashboard_releases import DashboardReleases
from vlforge.cli import main
from vlforge.layout import ReleaseDir
from vlforge.views.release_folder import ReleaseFolder
from vlforge.views.thumbnails import GALLERY_SIDE

# The releases are built by the release pipeline's stages, BERTScore model included.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def release_copy(dashboard_releases: DashboardReleases, tmp_path: Path) -> Path:
    copy = tmp_path / dashboard_releases.releases[1].version
    shutil.copytree(dashboard_releases.releases[1].path, copy)
    shutil.rmtree(ReleaseDir(copy).thumbnails)
    return copy


def test_thumbnails_are_drawn_once_per_sample(release_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["thumbnails", str(release_copy)]) == 0
    assert capsys.readouterr().out.startswith("10 thumbnails drawn, 0 already there, 0 failed")
    drawn = sorted((ReleaseDir(release_copy).thumbnails).iterdir())
    assert [path.stem for path in drawn] == sorted(ReleaseFolder(release_copy).index().sample_ids)
    with Image.open(drawn[0]) as image:
        assert image.format == "JPEG" and max(image.size) == GALLERY_SIDE
    stamps = [path.stat().st_mtime_ns for path in drawn]
    assert main(["thumbnails", str(release_copy)]) == 0
    assert capsys.readouterr().out.startswith("0 thumbnails drawn, 10 already there, 0 failed")
    assert [path.stat().st_mtime_ns for path in sorted((ReleaseDir(release_copy).thumbnails).iterdir())] == stamps


def test_an_unreadable_image_is_named_and_the_others_are_drawn(release_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = ReleaseFolder(release_copy).index()
    broken = index.samples([0])[0].images[0].file_name
    users = sum(sample.images[0].file_name == broken for sample in index.samples(list(range(len(index)))))
    (release_copy / "images" / broken).unlink()
    (release_copy / "images" / broken).write_bytes(b"\x89PNG truncated")
    assert main(["thumbnails", str(release_copy)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{10 - users} thumbnails drawn, 0 already there, {users} failed")
    assert f"image {broken} of sample {index.sample_ids[0]} cannot be read" in captured.err
    assert len(list((ReleaseDir(release_copy).thumbnails).iterdir())) == 10 - users


def test_a_missing_folder_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["thumbnails", str(tmp_path / "nowhere")]) == 1
    assert f"no thumbnails: release folder {tmp_path / 'nowhere'} is missing" in capsys.readouterr().err
