"""Where the scorer's model runs: chosen from the settings and CUDA's presence (no GPU needed)."""

from __future__ import annotations

import pytest

from tweet_triage.config import Settings, SettingsError
from tweet_triage.live.scorer import scorer_device


def gpu() -> bool:
    return True


def no_gpu() -> bool:
    return False


def never_asked() -> bool:
    raise AssertionError("the ONNX engines must not look for a GPU")


@pytest.mark.parametrize(
    ("engine", "device", "cuda", "expected"),
    [
        ("torch", "auto", gpu, "cuda"),
        ("torch", "auto", no_gpu, "cpu"),
        ("auto", "auto", gpu, "cuda"),
        ("auto", "auto", no_gpu, "cpu"),
        ("torch", "cpu", gpu, "cpu"),
        ("torch", "cuda", gpu, "cuda"),
        ("onnx", "auto", never_asked, "cpu"),
        ("onnx-fp32", "cpu", never_asked, "cpu"),
    ],
)
def test_the_device_follows_the_setting_and_the_gpu(engine, device, cuda, expected) -> None:
    assert scorer_device(engine, device, cuda) == expected


def test_cuda_that_cannot_be_had_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="TRIAGE_SCORER_ENGINE=torch"):
        scorer_device("onnx", "cuda", never_asked)
    with pytest.raises(SettingsError, match=r"no CUDA GPU.*use auto or cpu"):
        scorer_device("torch", "cuda", no_gpu)


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().triage_scorer_device == "auto"
    monkeypatch.setenv("TRIAGE_SCORER_DEVICE", "cuda")
    assert Settings().triage_scorer_device == "cuda"
    monkeypatch.setenv("TRIAGE_SCORER_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"TRIAGE_SCORER_DEVICE|triage_scorer_device"):
        Settings()
