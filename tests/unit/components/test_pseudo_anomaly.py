# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import torch

from anomalib_contam.components.pseudo_anomaly import same_image_cutpaste


def test_cutpaste_changes_one_rectangle_of_plausible_area() -> None:
    torch.manual_seed(0)
    for _ in range(20):
        image = torch.zeros(3, 100, 100)
        image[0] = torch.linspace(0, 1, 100)[None, :]  # a gradient, so moved pixels differ
        image[1] = torch.linspace(0, 1, 100)[:, None]
        out = same_image_cutpaste(image)
        changed = (out != image).any(dim=0)
        assert out.shape == image.shape
        assert changed.sum() <= 0.15 * 100 * 100 + 200  # area <= 15 % (+ rounding of the sides)
        ys, xs = torch.nonzero(changed, as_tuple=True)
        if len(ys):
            box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
            assert changed.sum() <= box
        assert (image[0] == torch.linspace(0, 1, 100)[None, :]).all()  # input untouched


def test_cutpaste_stays_in_range() -> None:
    torch.manual_seed(1)
    out = same_image_cutpaste(torch.rand(3, 32, 48))
    assert out.min() >= 0
    assert out.max() <= 1
