"""A small real training job for tests/unit/test_resume.py, run as a subprocess so it can be signalled.

An MLP (with dropout, so the global torch RNG matters) learns a known linear map y = x A^T + noise with Adam and
a step LR schedule; batches are drawn with fit's generator, and the loss is jittered by NumPy's and Python's
global RNGs so that their saved states matter too. With ``--pause-at P`` the step function stops at step P,
writes ``<out>.paused`` and waits for ``<out>.go``: the test signals the job at a known point, not by timing.
tests/e2e/test_slurm.py also runs it under SLURM until its time limit stops it.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neurodyn.runrecord import RunRecord
from neurodyn.loop import fit


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument("--pause-at", type=int, default=-1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step-sleep", type=float, default=0.0, help="seconds per step at least (paces a job to outlast a time limit)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)

    data_gen = torch.Generator().manual_seed(1234)  # the data set is fixed; only training is resumed
    a_true = torch.randn(5, 3, generator=data_gen)
    x = torch.randn(512, 3, generator=data_gen)
    y = x @ a_true.T + 0.05 * torch.randn(512, 5, generator=data_gen)
    x_test = torch.randn(256, 3, generator=data_gen)
    y_test = x_test @ a_true.T

    model = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.Tanh(), torch.nn.Dropout(0.1), torch.nn.Linear(32, 5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=100, gamma=0.5)
    record = RunRecord(args.out, {"steps": args.steps, "checkpoint_every": args.checkpoint_every}, args.seed)
    out = Path(args.out)

    def step_fn(step: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        if step == args.pause_at:
            out.with_name(out.name + ".paused").write_text(str(step))
            go = out.with_name(out.name + ".go")
            deadline = time.monotonic() + 120
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if args.step_sleep:
            time.sleep(args.step_sleep)
        idx = torch.randint(0, x.shape[0], (32,), generator=gen)
        loss = torch.mean((model(x[idx]) - y[idx]) ** 2)
        jitter = 1.0 + 1e-3 * float(np.random.rand()) + 1e-3 * random.random()
        return {"loss": loss * jitter, "mse": loss.detach()}

    result = fit(
        modules={"model": model},
        optimizer=opt,
        step_fn=step_fn,
        n_steps=args.steps,
        record=record,
        seed=args.seed,
        label="resume-test",
        checkpoint_every=args.checkpoint_every,
        scheduler=sched,
    )
    with torch.no_grad():
        test_mse = float(torch.mean((model(x_test) - y_test) ** 2))
    record.save_torch("model.pt", model.state_dict())
    record.finish({"test_mse": test_mse, "train_mse_last10": result.last("mse")}, resumed_from=result.resumed_from)
    print(json.dumps({"resumed_from": result.resumed_from}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
