"""Rotating ball: videos of a disk moving counter-clockwise on a circle (DCF's synthetic video, docs/papers.md §1).

The paper: 10 videos × 50 frames, 28×28. Each video starts at a random phase; the true latent is the disk's
angle (stored as cos, sin). Frames are anti-aliased (the disk's edge is a 1-pixel logistic ramp) so that the
frame is a smooth function of the angle. Each video is one trial.
"""

from __future__ import annotations

import numpy as np

from neurodyn.simulate.base import SimulatedRecording
from neurodyn.simulate.nwb_writer import make_main


def render(angle: np.ndarray, *, size: int, orbit_frac: float, radius_frac: float) -> np.ndarray:
    """Frames of a disk at ``angle`` (n,) -> (n, size, size) in [0, 1]; y axis up (counter-clockwise on screen)."""
    centre = (size - 1) / 2.0
    orbit = orbit_frac * size / 2.0
    radius = radius_frac * size / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    cx = centre + orbit * np.cos(angle)[:, None, None]
    cy = centre - orbit * np.sin(angle)[:, None, None]  # image rows grow downwards
    dist = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    return 1.0 / (1.0 + np.exp(4.0 * (dist - radius)))


def simulate(params: dict, seed: int) -> SimulatedRecording:
    """Rotating-ball videos: params n_videos, n_frames, size, orbit_frac, radius_frac, turns_per_video,
    noise_sd, frame_rate_hz."""
    rng = np.random.default_rng(seed)
    n_videos, n_frames, size = int(params["n_videos"]), int(params["n_frames"]), int(params["size"])
    rate = float(params["frame_rate_hz"])
    step = 2 * np.pi * float(params["turns_per_video"]) / n_frames
    phases = rng.uniform(0, 2 * np.pi, n_videos)
    angles = (phases[:, None] + step * np.arange(n_frames)[None]).reshape(-1)
    frames = render(angles, size=size, orbit_frac=float(params["orbit_frac"]), radius_frac=float(params["radius_frac"]))
    if params["noise_sd"] > 0:
        frames = np.clip(frames + rng.normal(0, float(params["noise_sd"]), frames.shape), 0.0, 1.0)
    duration = n_frames / rate
    starts = np.arange(n_videos) * duration
    return SimulatedRecording(
        name="rotating_ball",
        rate_hz=rate,
        trials={
            "start_time": starts,
            "stop_time": starts + duration,
            "split": np.array(["train"] * n_videos),
            "condition": np.array(["ccw"] * n_videos),
        },
        observations=frames.reshape(n_videos * n_frames, size * size).astype(np.float32),
        latents=np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32),
        description="A disk moving counter-clockwise on a circle; one video per trial (DCF's rotating ball).",
        params=dict(params),
        attrs={"image_shape": [1, size, size], "align_event": "start_time", "latent_names": ["cos_angle", "sin_angle"]},
    )


main = make_main(simulate)
