import math

import pytest
import torch

from unisync_model.model.margin_bce import margin_bce


@pytest.mark.parametrize("p, label, margin, expected", [
    (0.8, 1, 0.0, -math.log(0.8)),            # positive: plain BCE, no margin
    (0.3, 1, 0.0, -math.log(0.3)),
    (0.8, 0, 0.0, -math.log(0.2)),            # negative without margin: plain BCE
    (0.8, 0, 0.1, -math.log(1 - 0.7)),        # Mel same-speaker margin
    (0.8, 0, 0.3, -math.log(1 - 0.5)),        # Mel cross-speaker / HuBERT same-speaker margin
    (0.8, 0, 0.7, -math.log(1 - 0.1)),        # HuBERT cross-speaker margin
    (0.2, 0, 0.3, 0.0),                       # a negative at or below its margin costs nothing
    (0.3, 0, 0.3, 0.0),
])
def test_margin_bce_single_values(p, label, margin, expected):
    loss = margin_bce(torch.tensor([p]), torch.tensor([label]), torch.tensor([margin]))
    assert float(loss) == pytest.approx(expected, abs=1e-6)


def test_margin_bce_is_the_batch_mean():
    p = torch.tensor([0.9, 0.6, 0.6, 0.1])
    label = torch.tensor([1, 0, 0, 0])
    margin = torch.tensor([0.0, 0.1, 0.3, 0.3])
    expected = (-math.log(0.9) - math.log(1 - 0.5) - math.log(1 - 0.3) - 0.0) / 4
    assert float(margin_bce(p, label, margin)) == pytest.approx(expected, abs=1e-6)


def test_margin_bce_gradient_is_zero_below_the_margin_and_finite_at_the_edges():
    p = torch.tensor([0.2, 0.0, 1.0], requires_grad=True)
    loss = margin_bce(p, torch.tensor([0, 1, 0]), torch.tensor([0.3, 0.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss)
    assert p.grad[0] == 0
    assert torch.isfinite(p.grad).all()
