"""Digits people draw differently: flagged 1s and crossed 7s keep their labels and gain ink
where a person puts it; the per-batch stroke-width op thickens, thins, or leaves alone."""

from __future__ import annotations

import numpy as np
import torch

from cnn.augment import add_crossbar, add_flag, people_copies, stroke_width


def _one() -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 13:16] = 255  # a bare vertical 1, 3 px wide, centred like MNIST
    return image


def test_a_flag_adds_ink_top_left_and_keeps_the_image_centred():
    rng = np.random.default_rng(0)
    flagged = add_flag(_one(), rng)
    assert flagged.sum() > _one().sum()
    ys, xs = np.nonzero(flagged > 127)
    assert xs.min() < 11  # the flag reaches left of the stem...
    assert ys[xs < 11].max() < 16  # ...in the top half
    mass = flagged.astype(float)
    com_x = (mass.sum(0) * np.arange(28)).sum() / mass.sum()
    assert abs(com_x - 14) <= 0.5


def _seven() -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[4:7, 7:21] = 255  # the top bar
    for y in range(6, 24):  # the down-stroke, from the bar's right end down to the left
        x = round(20 - (y - 6) * 9 / 18)
        image[y, x - 1 : x + 2] = 255
    return image


def test_a_crossbar_crosses_the_down_stroke_near_mid_height():
    crossed = add_crossbar(_seven(), np.random.default_rng(0))
    assert crossed.sum() > _seven().sum()
    ink = crossed > 127
    rows = np.flatnonzero(ink.any(1))
    top, height = rows.min(), rows.max() - rows.min() + 1
    below_the_top_bar = range(top + 4, rows.max() + 1)
    bar = max(below_the_top_bar, key=lambda y: ink[y].sum())
    assert 0.35 <= (bar - top) / height <= 0.7
    assert ink[bar].sum() >= 6  # wider than the 3-pixel down-stroke
    below = np.flatnonzero(ink[bar + 4])  # the down-stroke under the bar
    assert ink[bar, : below.min()].any() and ink[bar, below.max() + 1 :].any()  # both sides


def test_people_copies_keep_labels():
    images = np.stack([_one()] * 10 + [np.zeros((28, 28), np.uint8)] * 4)
    labels = np.array([1] * 10 + [0] * 4)
    copies, copy_labels = people_copies(images, labels, np.random.default_rng(0), share=0.3)
    assert copy_labels.tolist() == [1, 1, 1] and copies.shape == (3, 28, 28)
    assert all(c.sum() > _one().sum() for c in copies)


def test_stroke_width_thickens_thins_or_leaves_alone():
    x = torch.from_numpy(np.stack([_one()] * 64)).float().div(255).unsqueeze(1)
    torch.testing.assert_close(stroke_width(x, p=0.0), x)
    g = torch.Generator().manual_seed(0)
    y = stroke_width(x, p=1.0, generator=g)
    mass = y.sum(dim=(1, 2, 3)) / x[0].sum()
    assert (mass > 1.05).any() and (mass < 0.95).any()  # some thicker, some thinner
    assert y.min() >= 0 and y.max() <= 1
    again = stroke_width(x, p=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, again)


def test_the_default_recipe_trains_on_flagged_1s_labelled_1_and_the_course_recipe_is_unchanged(
    mnist_train,
):
    from cnn.splits import train_validation_indices
    from cnn.train import augment_step, load_data, recipe_config

    cpu = torch.device("cpu")
    default = recipe_config("default", limit=2000, test_limit=10)
    course = recipe_config("course", limit=2000, test_limit=10)
    (x_default, y_default), _, _ = load_data(default, cpu)
    (x_course, y_course), _, _ = load_data(course, cpu)

    # course: exactly the first 2,000 training images, as before
    idx, _ = train_validation_indices(len(mnist_train), course.validation_size)
    expected = torch.from_numpy(mnist_train.images[idx[:2000]]).float().div(255).unsqueeze(1)
    torch.testing.assert_close(x_course, expected)
    assert y_course.tolist() == mnist_train.labels[idx[:2000]].tolist()
    torch.manual_seed(0)
    torch.testing.assert_close(augment_step(x_course[:8], course), x_course[:8])

    # default: the same images, then flagged copies labelled 1 and crossed copies labelled 7
    torch.testing.assert_close(x_default[:2000], x_course)
    extra = y_default[2000:]
    ones, sevens = int((y_course == 1).sum()), int((y_course == 7).sum())
    assert extra.tolist() == [1] * round(0.3 * ones) + [7] * round(0.3 * sevens)
    flagged = x_default[2000 : 2000 + round(0.3 * ones)]
    assert flagged.sum() > 0 and not any(
        torch.equal(f, x) for f in flagged[:5] for x in x_course[y_course == 1]
    )
    again, _, _ = load_data(default, cpu)
    torch.testing.assert_close(again[0], x_default)  # the same copies for the same seed
