"""The PyTorch reference kgan's train step is measured against (`kgan bench`, extra `bench`).

The canonical DCGAN of pytorch/examples (ngf = ndf = 64, 4×4 kernels, BatchNorm, ReLU /
LeakyReLU 0.2), with the same two steps as kgan: BCE with Adam(2e-4, β1 0.5); and WGAN-GP
with an InstanceNorm critic, λ = 10 on per-sample interpolates (norm over the whole
image) and RMSprop 2e-4. One step = one D update on a real and a generated batch, one G
update on that generated batch.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _models(variant: str, z_dim: int = 100, width: int = 64):
    from torch import nn

    def d_norm(channels: int):
        return nn.BatchNorm2d(channels) if variant == "dcgan" else nn.InstanceNorm2d(channels, affine=True)

    generator = nn.Sequential(
        nn.ConvTranspose2d(z_dim, width * 8, 4, 1, 0, bias=False),
        nn.BatchNorm2d(width * 8),
        nn.ReLU(True),
        nn.ConvTranspose2d(width * 8, width * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(True),
        nn.ConvTranspose2d(width, 3, 4, 2, 1),
        nn.Tanh(),
    )
    discriminator = nn.Sequential(
        nn.Conv2d(3, width, 4, 2, 1),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
        d_norm(width * 2),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width * 2, width * 4, 4, 2, 1, bias=False),
        d_norm(width * 4),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width * 4, width * 8, 4, 2, 1, bias=False),
        d_norm(width * 8),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(width * 8, 1, 4, 1, 0),
        nn.Flatten(),
    )
    return generator, discriminator


def _autocast(torch, device: str, precision: str):
    """kgan's --precision as PyTorch autocast: the same arithmetic on both sides of a ratio."""
    import contextlib

    if precision == "float32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "mixed_bfloat16" else torch.float16
    return torch.autocast(device, dtype=dtype)


def bench_step(
    variant: str,
    batch_size: int = 128,
    steps: int = 8,
    warmup: int = 3,
    z_dim: int = 100,
    precision: str = "float32",
) -> float:
    """Images/s of the PyTorch reference train step at 64×64 (the GPU when PyTorch sees one)."""
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    generator, discriminator = (model.to(device) for model in _models(variant, z_dim))
    if variant == "dcgan":
        g_opt = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
        d_opt = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
    else:
        g_opt = torch.optim.RMSprop(generator.parameters(), 2e-4)
        d_opt = torch.optim.RMSprop(discriminator.parameters(), 2e-4)
    # float16 needs loss scaling, as kgan's LossScaleOptimizer does; bfloat16 and float32 do not.
    scaler = torch.amp.GradScaler(device, enabled=precision == "mixed_float16")
    real = torch.rand(batch_size, 3, 64, 64, device=device) * 2 - 1
    ones, zeros = torch.ones(batch_size, 1, device=device), torch.zeros(batch_size, 1, device=device)

    def step() -> None:
        with _autocast(torch, device, precision):
            fake = generator(torch.randn(batch_size, z_dim, 1, 1, device=device))
            d_opt.zero_grad()
            real_score, fake_score = discriminator(real), discriminator(fake.detach())
            if variant == "dcgan":
                d_loss = 0.5 * (
                    F.binary_cross_entropy_with_logits(real_score.float(), ones)
                    + F.binary_cross_entropy_with_logits(fake_score.float(), zeros)
                )
            else:
                alpha = torch.rand(batch_size, 1, 1, 1, device=device)
                mixed = (alpha * real + (1 - alpha) * fake.detach().float()).requires_grad_(True)
                (grads,) = torch.autograd.grad(discriminator(mixed).float().sum(), mixed, create_graph=True)
                penalty = ((grads.flatten(1).norm(dim=1) - 1) ** 2).mean()
                d_loss = fake_score.float().mean() - real_score.float().mean() + 10.0 * penalty
        scaler.scale(d_loss).backward()
        scaler.step(d_opt)
        g_opt.zero_grad()
        with _autocast(torch, device, precision):
            score = discriminator(fake).float()
            g_loss = F.binary_cross_entropy_with_logits(score, ones) if variant == "dcgan" else -score.mean()
        scaler.scale(g_loss).backward()
        scaler.step(g_opt)
        scaler.update()
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    marks = [time.perf_counter()]
    for _ in range(steps):
        step()
        marks.append(time.perf_counter())
    # the median step, as kgan's figures
    return batch_size / statistics.median(later - earlier for earlier, later in itertools.pairwise(marks))
