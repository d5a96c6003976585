"""Fixtures shared by several test files."""
import os

import pytest

SMALL_TRAIN_SIZE = (48, 64)


FLAT_ROOMS = {"photo_light": 0.0, "surfaces": 0.0, "doorways": 0.0}   # renderer 1's rooms


@pytest.fixture(scope="session")
def small_trained_checkpoint(tmp_path_factory):
    """last.pt of a small U-Net trained for about a minute on 48x64 rooms (NYU's camera scaled: fx about 52 px).

    Trained enough to have learnt depth for its focal length (held-out delta1 about 0.5-0.6), which
    the camera and quantization tests need: an untrained network predicts the same depth everywhere.
    It trains on renderer 1's rooms (`FLAT_ROOMS`: flat light, plain walls), which a minute of training
    learns clearly; the tests that measure it use the same rooms. The default rooms are harder. It trains
    in bf16 where the CPU has it natively and in float32 elsewhere (`amp="auto"`), as the lessons do.
    """
    from course_lib import seed_everything
    from course_lib.data import SyntheticRooms
    from course_lib.data.cached import CachedSamples
    from course_lib.losses import build_loss
    from course_lib.models import build_model
    from course_lib.train import TrainConfig, fit

    out = tmp_path_factory.mktemp("small_trained")
    seed_everything(0)
    model = build_model("unet", base_channels=8, depth=3)
    rooms = CachedSamples(SyntheticRooms(32, size=SMALL_TRAIN_SIZE, seed=1, **FLAT_ROOMS))
    fit(model, rooms, None, build_loss("silog"),
        TrainConfig(steps=120, batch_size=8, lr=3e-3, amp="auto", val_every=None, checkpoint_every=None,
                    progress=False, out_dir=str(out)))
    return out / "last.pt"


# ----------------------------------------------------------------------------- the real browser (Chromium)

def find_chromium() -> str | None:
    """$COURSE_CHROMIUM, else the system's Chromium (Debian: `apt-get install chromium`)."""
    import shutil

    for candidate in (os.environ.get("COURSE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def browser_missing() -> str | None:
    """What the browser tests lack here (None: nothing); they skip, or fail with COURSE_REQUIRE_BROWSER=1."""
    import importlib.util

    if os.environ.get("COURSE_BROWSER_TESTS") == "0" and os.environ.get("COURSE_REQUIRE_BROWSER") != "1":
        return "switched off (COURSE_BROWSER_TESTS=0)"
    if find_chromium() is None:
        return "Chromium (apt-get install -y chromium) is not installed"
    if importlib.util.find_spec("playwright") is None:
        return "playwright (pip install playwright) is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    """A headless system Chromium driven by Playwright (no browser download), shared by the browser tests."""
    missing = browser_missing()
    if missing:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser tests must run here (COURSE_REQUIRE_BROWSER=1), but {missing}")
        pytest.skip(f"no browser tests: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=find_chromium(), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield chromium
        finally:
            chromium.close()

