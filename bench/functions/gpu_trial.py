"""A trial for bench/gpu_packing.py: a small MLP trained on synthetic data for `--seconds`.

Small on purpose (batches of 512 through one hidden layer of 256-1024 units): alone it leaves a
large GPU mostly idle between its kernels, which is the case `trials_per_gpu` exists for. It prints
`accuracy: X` about once a second (one step of the objective's curve) and at the end. Without
CUDA (a dry run) it trains the same model on the CPU.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(16384, 256, generator=gen)
    y = (x[:, :10] * torch.arange(1, 11)).argmax(dim=1)  # a learnable rule: the largest weighted feature
    x, y = x.to(device), y.to(device)
    model = torch.nn.Sequential(torch.nn.Linear(256, args.width), torch.nn.ReLU(), torch.nn.Linear(args.width, 10)).to(
        device
    )
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = next_report = time.monotonic()
    step = 0
    while time.monotonic() - start < args.seconds:
        i = (step * 512) % (len(x) - 512)
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[i : i + 512]), y[i : i + 512]).backward()
        opt.step()
        step += 1
        if time.monotonic() >= next_report:
            next_report += 1.0
            print(f"accuracy: {_accuracy(model, x, y):.6f}", flush=True)
    print(f"accuracy: {_accuracy(model, x, y):.6f}", flush=True)


@torch.no_grad()
def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x[:4096]).argmax(dim=1) == y[:4096]).float().mean())


if __name__ == "__main__":
    main()
