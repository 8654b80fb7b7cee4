"""Tests of the NumPy port of the book's network and Trainer (jaxch6.reference.network_np)."""

from __future__ import annotations

import numpy as np

from jaxch6.reference.network_np import MultiLayerNetExtend, Trainer, numerical_gradient


def test_hand_written_backward_matches_the_books_numerical_gradient():
    rng = np.random.default_rng(0)
    net = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True, weight_decay_lambda=0.1, rng=rng)
    x, t = rng.normal(size=(4, 6)), np.array([0, 2, 1, 2])
    grads, num = net.gradient(x, t), net.numerical_gradient(x, t)
    assert sorted(grads) == sorted(num) == sorted(net.params)
    for k in grads:  # the backward ignores the 1e-7 of the loss's log: ~1e-7 apart
        np.testing.assert_allclose(grads[k], num[k], atol=1e-6, err_msg=k)
    w = np.array([1.0, -2.0])
    np.testing.assert_allclose(numerical_gradient(lambda _: np.sum(w**2), w), [2.0, -4.0])
    np.testing.assert_array_equal(w, [1.0, -2.0])  # restored


def test_trainer_book_semantics_on_real_digits(mnist_test_set):
    x, t = mnist_test_set
    rng = np.random.default_rng(1)
    net = MultiLayerNetExtend(784, [50], 10, rng=rng)
    trainer = Trainer(net, x[:300].astype(np.float64), t[:300], x[300:400], t[300:400],
                      epochs=4, mini_batch_size=100, optimizer="sgd",
                      optimizer_param={"lr": 0.1}, rng=rng)
    test_acc = trainer.train()
    assert trainer.max_iter == 12 and len(trainer.train_loss_list) == 12
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 4
    assert trainer.train_acc_list[-1] > 0.5 and test_acc > 0.4  # chance: 0.1
    assert trainer.train_loss_list[-1] < trainer.train_loss_list[0]
    # same seed, same run
    rng2 = np.random.default_rng(1)
    net2 = MultiLayerNetExtend(784, [50], 10, rng=rng2)
    t2 = Trainer(net2, x[:300].astype(np.float64), t[:300], x[300:400], t[300:400], epochs=4,
                 optimizer="sgd", optimizer_param={"lr": 0.1}, rng=rng2)
    t2.train()
    np.testing.assert_array_equal(t2.train_loss_list, trainer.train_loss_list)
