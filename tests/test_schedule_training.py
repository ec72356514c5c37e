"""fit advances a schedule once per batch: the optimizer owns the step counter."""

import numpy as np

import minnet as mn


class Recording(mn.Schedule):
    """A distinct rate per step that remembers which steps were asked for."""

    def __init__(self):
        self.asked = []

    def _value(self, step):
        self.asked.append(step)
        return 0.01 + 0.001 * step


class SpySGD(mn.SGD):
    """Records the rate each update actually uses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.used = []

    def step(self):
        self.used.append(self.current_lr)
        super().step()


def run(batch_size, n=10, epochs=3):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 2)), rng.integers(0, 2, size=n).astype(float)
    model = mn.Sequential(mn.Dense(2, 1, rng=0), mn.Sigmoid())
    schedule = Recording()
    opt = SpySGD(model.parameters(), lr=schedule)
    history = mn.fit(model, mn.BCE(), opt, X, y, epochs=epochs, batch_size=batch_size, seed=0, progress=False)
    return schedule, opt, history


def test_fit_steps_the_schedule_once_per_batch():
    # 10 samples in batches of 4 -> 3 batches per epoch (the last one partial) -> 9 steps
    schedule, opt, history = run(batch_size=4)
    assert opt.step_count == 9
    assert opt.used == [0.01 + 0.001 * k for k in range(9)]
    assert sorted(set(schedule.asked)) == list(range(9))
    # fit first checks the schedule's value at every step of the run, then walks it in order
    assert schedule.asked[:9] == list(range(9))
    assert schedule.asked[9:] == sorted(schedule.asked[9:]) and set(schedule.asked[9:]) == set(range(9))
    # the history's lr is the rate of each epoch's last step
    np.testing.assert_allclose(history["lr"], [0.01 + 0.001 * k for k in (2, 5, 8)])
