"""Torch samplers used by the noise families: Gamma / BetaPrime variates and unit-sphere points.

Every function draws all of its randomness from the ``generator`` argument (a
:class:`torch.Generator` living on ``device``, or ``None`` for torch's default generator) and
creates its tensors directly on ``device`` -- nothing is sampled on the CPU and copied, and no
numpy/scipy randomness is used.

Precision convention: scalar-per-row quantities (radii, shape (n,)) are drawn in float64, which
costs nothing and avoids underflow for small Gamma shapes; per-coordinate tensors (shape
(n, dim)) are drawn in :func:`work_dtype` (float64 if float64 was requested, else float32) and the
callers cast the final noise to the requested dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where noise is sampled: radii need only numpy/scipy
    import torch

__all__ = [
    "work_dtype",
    "standard_gamma",
    "beta_prime",
    "random_signs",
    "l2_sphere",
    "l1_sphere",
    "cube_surface",
]


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype to sample per-coordinate variates in: float64 if requested, else float32.

    (torch's Gamma sampler does not support half precision; half/bfloat16 noise is drawn in
    float32 and cast by the caller.)
    """
    import torch

    return torch.float64 if dtype == torch.float64 else torch.float32


def standard_gamma(
    shape_param: float,
    size: tuple[int, ...],
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Gamma(``shape_param``, scale 1) variates of the given ``size``, drawn on ``device`` in
    ``dtype`` (float64 if None).

    Uses torch's (Marsaglia-Tsang) Gamma sampler, which accepts an explicit generator.
    """
    import torch

    dtype = torch.float64 if dtype is None else dtype

    if not shape_param > 0:
        raise ValueError(f"shape_param must be > 0 for a Gamma distribution, got {shape_param!r}")
    alpha = torch.full((), float(shape_param), dtype=dtype, device=device).expand(size)
    return torch._standard_gamma(alpha, generator=generator)


def beta_prime(a: float, b: float, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``n`` BetaPrime(a, b) variates (float64), as Gamma(a) / Gamma(b)."""

    return standard_gamma(a, (n,), generator, device) / standard_gamma(b, (n,), generator, device)


def random_signs(
    size: tuple[int, ...], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Independent uniformly random signs (+1 / -1) of the given ``size``."""
    import torch

    bits = torch.empty(size, dtype=dtype, device=device).bernoulli_(0.5, generator=generator)
    return bits.mul_(2).sub_(1)


def l2_sphere(
    n: int, dim: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` uniform points on the unit l2 sphere in ``dim`` dims (normalised standard normals)."""
    import torch

    z = torch.randn((n, dim), generator=generator, device=device, dtype=dtype)
    return z / torch.linalg.vector_norm(z, ord=2, dim=1, keepdim=True)


def l1_sphere(
    n: int, dim: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` uniform points (cone measure) on the unit l1 sphere.

    Normalised i.i.d. Exp(1) magnitudes (a Dirichlet(1, ..., 1) point) with independent random
    signs.
    """
    import torch

    e = torch.empty((n, dim), dtype=dtype, device=device).exponential_(1.0, generator=generator)
    e = e / e.sum(dim=1, keepdim=True)
    return e.mul_(random_signs((n, dim), generator, device, dtype))


def cube_surface(
    n: int, dim: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """``n`` uniform points on the surface of the cube [-1, 1]^dim (unit l-infinity sphere).

    All coordinates U[-1, 1], then one uniformly chosen coordinate per row set to +1 or -1.
    """
    import torch

    u = torch.rand((n, dim), generator=generator, device=device, dtype=dtype).mul_(2).sub_(1)
    face = torch.randint(0, dim, (n, 1), generator=generator, device=device)
    sign = random_signs((n, 1), generator, device, dtype)
    return u.scatter_(1, face, sign)
