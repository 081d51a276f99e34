"""Seeds of independent random streams, derived from a tuple of integers (never global RNG state).

Every random stream of the project (noise blocks of an example, per-item augmentation, the
training streams of an epoch) is seeded by :func:`derive_seed` from the config's seed and the
integers that identify the stream, so results do not depend on sharding, batch size, worker count
or the order in which work is done.
"""

from __future__ import annotations

import numpy as np


def derive_seed(*entropy: int) -> int:
    """A 63-bit seed (valid for ``torch.Generator.manual_seed`` and numpy) from ``entropy``.

    Uses numpy's ``SeedSequence`` so that nearby tuples, e.g. (seed, i) and (seed, i + 1), give
    statistically independent streams.
    """
    hi, lo = np.random.SeedSequence([int(e) for e in entropy]).generate_state(2, dtype=np.uint32)
    return ((int(hi) << 32) | int(lo)) & ((1 << 63) - 1)
