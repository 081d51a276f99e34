"""Sun et al.'s strategies on a toy set: radius weights, discarding, re-weighting schedule, state and sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from randsmooth.losses import EpochContext, get_loss
from randsmooth.losses.sun2025 import radius_weights
from randsmooth.sampling import get_noise
from randsmooth.train_data import make_loader

N = 16
HARD = [1, 4, 6, 11, 15]  # the lookup model misclassifies these


class LookupModel(nn.Module):
    """Reads the example index from pixel (0, 0) (x = i / 32, noise tiny) and answers from a table."""

    def __init__(self, predictions: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("predictions", predictions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = (x.flatten(1)[:, 0] * 32).round().long().clamp(0, N - 1)
        return 10.0 * F.one_hot(self.predictions[index], 10).float()


def toy_set() -> list[tuple[torch.Tensor, int]]:
    items = []
    for i in range(N):
        x = torch.zeros(1, 8, 8)
        x[0, 0, 0] = i / 32
        items.append((x, i % 10))
    return items


def lookup(hard: list[int]) -> LookupModel:
    predictions = torch.tensor([(i % 10 + (1 if i in hard else 0)) % 10 for i in range(N)])
    return LookupModel(predictions)


def epoch_ctx(epoch: int) -> EpochContext:
    return EpochContext(noise=get_noise("gaussian", 1e-4, 64), seed=epoch, epoch=epoch, num_epochs=20, batch_size=7)


def test_radius_weights_match_the_reference_vector() -> None:
    """Sun et al.'s weights for n = 16, one-sided CP level 0.1, k = 12..16 (and k < 12 clipped to 12)."""
    expected = [0.1537, 0.3286, 0.5257, 0.7649, 1.1075]
    np.testing.assert_allclose(radius_weights(np.arange(12, 17), 16, 0.75, 0.1), expected, atol=5e-5)
    np.testing.assert_allclose(radius_weights([0, 5, 11], 16, 0.75, 0.1), [0.1537] * 3, atol=5e-5)


def test_discard_and_reweight_select_exactly_the_documented_examples() -> None:
    loss = get_loss("sun2025", switch_epoch=2, discard_samples=10, reweight_interval=3, reweight_samples=16)
    data, model = toy_set(), lookup(HARD)
    for epoch in (0, 1):
        loss.on_epoch_start(model, data, epoch_ctx(epoch))
        assert loss.sampling_weights(epoch) is None and loss.state_dict() == {}
    loss.on_epoch_start(model, data, epoch_ctx(2))
    easy = [i for i in range(N) if i not in HARD]
    assert loss.keep.nonzero().squeeze(1).tolist() == easy
    assert loss.p_hat.tolist() == [0.0 if i in HARD else 1.0 for i in range(N)]
    weights = loss.sampling_weights(2)
    np.testing.assert_allclose(weights[easy].numpy(), 1.1075, atol=5e-5)  # always right: k = 16
    assert not weights[HARD].any()  # discarded: never sampled
    # no re-estimate before epoch 2 + K = 5, even if the model changed
    changed = lookup([0, 2, 3])
    loss.on_epoch_start(changed, data, epoch_ctx(3))
    assert torch.equal(loss.sampling_weights(3), weights)
    loss.on_epoch_start(changed, data, epoch_ctx(5))
    expected = [0.0 if i in HARD else 0.1537 if i in (0, 2, 3) else 1.1075 for i in range(N)]
    np.testing.assert_allclose(loss.sampling_weights(5).numpy(), expected, atol=5e-5)
    assert loss.keep.nonzero().squeeze(1).tolist() == easy  # discarding happens once


def test_single_strategies() -> None:
    data, model = toy_set(), lookup(HARD)
    reweight = get_loss("acr_reweight", switch_epoch=0)
    reweight.on_epoch_start(model, data, epoch_ctx(0))
    expected = [0.1537 if i in HARD else 1.1075 for i in range(N)]  # hard examples are down-weighted, kept
    np.testing.assert_allclose(reweight.sampling_weights(0).numpy(), expected, atol=5e-5)
    discard = get_loss("acr_discard", switch_epoch=1, discard_samples=4)
    discard.on_epoch_start(model, data, epoch_ctx(1))
    assert discard.sampling_weights(1).tolist() == [0.0 if i in HARD else 1.0 for i in range(N)]
    attack = get_loss("acr_adaptive_attack", switch_epoch=0)
    attack.on_epoch_start(model, data, epoch_ctx(0))
    assert attack.sampling_weights(0) is None and attack.state_dict() == {}


def test_attack_only_with_replacement_draws_uniformly_from_the_switch_epoch() -> None:
    """The reference's attack-only ablation (train.py without --ds_hard: switch epoch 0, every epoch a
    RandomSampler with replacement): uniform weights from E_t on, kept in the state for a resume."""
    data, model = toy_set(), lookup(HARD)
    attack = get_loss("acr_adaptive_attack", switch_epoch=2, replacement=True)
    attack.on_epoch_start(model, data, epoch_ctx(1))
    assert attack.sampling_weights(1) is None  # before E_t: a shuffled pass
    attack.on_epoch_start(model, data, epoch_ctx(2))
    assert attack.sampling_weights(2).tolist() == [1.0] * N
    restored = get_loss("acr_adaptive_attack", switch_epoch=2, replacement=True)
    restored.load_state_dict(attack.state_dict())
    restored.on_epoch_start(model, data, epoch_ctx(3))
    assert torch.equal(restored.sampling_weights(3), attack.sampling_weights(2))
    indexed = [(torch.zeros(1), i) for i in range(N)]
    loader = make_loader(indexed, 4, True, 0, 0, torch.device("cpu"), attack.sampling_weights(2))
    drawn = [int(i) for _, labels in loader for i in labels]
    assert len(drawn) == N and len(set(drawn)) < N  # len(train set) draws with replacement: repeats


def test_teacher_p_hat_and_state_round_trip() -> None:
    data = toy_set()
    teacher = torch.full((N, 10), 0.1)
    teacher[torch.arange(N), torch.arange(N) % 10] = torch.where(torch.arange(N) < 8, 0.91, 0.1)
    teacher = teacher / teacher.sum(1, keepdim=True)
    loss = get_loss("sun2025", switch_epoch=0, discard_source="teacher", discard_threshold=0.5, reweight=False)
    assert loss.needs_soft_targets
    with pytest.raises(ValueError, match="computed with 100 samples and seed 0"):
        loss.set_soft_targets(teacher, 100, 0)
    loss.set_soft_targets(teacher, 50, 0)
    loss.on_epoch_start(lookup([]), data, epoch_ctx(0))
    assert loss.keep.tolist() == [i < 8 for i in range(N)]
    restored = get_loss("sun2025", switch_epoch=0, discard_source="teacher", discard_threshold=0.5, reweight=False)
    restored.load_state_dict(loss.state_dict())
    restored.on_epoch_start(lookup(HARD), data, epoch_ctx(4))  # nothing to recompute
    assert torch.equal(restored.sampling_weights(4), loss.sampling_weights(4))
    fresh = get_loss("sun2025", switch_epoch=2)
    with pytest.raises(ValueError, match="no discard mask"):
        fresh.on_epoch_start(lookup(HARD), data, epoch_ctx(3))
    with pytest.raises(ValueError, match="unknown state keys"):
        fresh.load_state_dict({"mask": torch.ones(3)})


def test_discard_keeps_p_hat_equal_to_the_threshold() -> None:
    """Sun et al. keep the examples with p_A >= p_t (the reference's mask): a teacher's p_A of
    exactly 0.5 at threshold 0.5 is kept, 0.25 is not."""
    labels = torch.arange(N) % 10
    teacher = torch.zeros(N, 10)
    teacher[torch.arange(N), labels] = torch.where(torch.arange(N) < 8, 0.5, 0.25)
    teacher[torch.arange(N), (labels + 1) % 10] = 1.0 - teacher[torch.arange(N), labels]
    loss = get_loss("sun2025", switch_epoch=0, discard_source="teacher", discard_threshold=0.5, reweight=False)
    loss.set_soft_targets(teacher, 50, 0)
    loss.on_epoch_start(lookup([]), toy_set(), epoch_ctx(0))
    assert loss.p_hat.tolist() == [0.5] * 8 + [0.25] * 8
    assert loss.keep.tolist() == [i < 8 for i in range(N)]


def test_weighted_epochs_draw_only_kept_examples_deterministically() -> None:
    data = [(torch.zeros(1), i) for i in range(N)]
    weights = torch.tensor([0.0 if i in HARD else 1.0 + i for i in range(N)], dtype=torch.float64)
    cpu = torch.device("cpu")

    def order(seed: int) -> list[int]:
        loader = make_loader(data, 4, True, seed, 0, cpu, weights)
        return [int(i) for _, labels in loader for i in labels]

    drawn = order(3)
    assert len(drawn) == N and not set(drawn) & set(HARD)
    assert drawn == order(3) and drawn != order(4)


def test_discard_and_reweight_estimates_use_separate_noise_streams(monkeypatch) -> None:
    """At the switch epoch both estimates run: each from its own stream of the epoch seed (not the same noise)."""
    from randsmooth.losses import sun2025
    from randsmooth.seeding import derive_seed

    seeds = []
    real = sun2025.smoothed_counts

    def recording(model, dataset, noise, num_samples, seed, *args):
        seeds.append(seed)
        return real(model, dataset, noise, num_samples, seed, *args)

    monkeypatch.setattr(sun2025, "smoothed_counts", recording)
    loss = get_loss("sun2025", switch_epoch=2, discard_samples=4, reweight_samples=16)
    loss.on_epoch_start(lookup(HARD), toy_set(), epoch_ctx(2))
    assert seeds == [derive_seed(2, 0), derive_seed(2, 1)] and seeds[0] != seeds[1]
