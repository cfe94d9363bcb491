"""Rigs for the async Saver's attack tests: a gate that holds background writes, a small
model whose every variable holds one number, and readers of what a save left."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from legacy_saver import load_checkpoint
from legacy_saver.saver import Saver
from tests.helpers.paths import ROOT

v1 = tf.compat.v1
CHILD_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}  # for -c children


class Gate:
    """Holds every background write until ``open()``; ``waiting`` is set once one is held."""

    def __init__(self, monkeypatch):
        self.event = threading.Event()
        self.waiting = threading.Event()
        real = Saver._write_checkpoint

        def gated(saver, sess, checkpoint_file, save_op=None):
            if save_op is not None:  # the background write
                self.waiting.set()
                assert self.event.wait(60), "gate never opened"
            return real(saver, sess, checkpoint_file, save_op=save_op)

        monkeypatch.setattr(Saver, "_write_checkpoint", gated)

    def open(self):
        self.event.set()


class Model:
    """A float, an int64, a string variable and the global step; ``set(k)`` fills all."""

    def __init__(self, partitioned: bool = False, devices: int = 1):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.k = v1.placeholder(tf.int64, [])
            kf = tf.cast(self.k, tf.float32)
            with tf.device("/cpu:0"):
                a = v1.get_variable("a", [3, 4], initializer=v1.zeros_initializer())
                text = v1.get_variable("text", [2], tf.string,
                                       initializer=v1.constant_initializer(""))  # fmt: skip
            with tf.device(f"/cpu:{devices - 1}"):
                b = v1.Variable(np.zeros(5, np.int64), name="b", use_resource=False)
            self.step = v1.train.get_or_create_global_step()
            self.fill = [
                a.assign(tf.fill([3, 4], kf)),
                b.assign(tf.fill([5], self.k)),
                text.assign(tf.strings.as_string(tf.fill([2], self.k))),
                self.step.assign(self.k),
            ]
            if partitioned:
                with tf.device(f"/cpu:{devices - 1}"):
                    p = v1.get_variable("p", [6, 2], partitioner=v1.fixed_size_partitioner(3))
                self.fill.append(p.assign(tf.fill([6, 2], -kf)))
            self.bump = self.step.assign_add(1)
            config = v1.ConfigProto(device_count={"CPU": devices})
            self.sess = v1.Session(graph=self.graph, config=config)
            self.sess.run(v1.global_variables_initializer())

    def saver(self, **kwargs):
        with self.graph.as_default():
            return Saver(**kwargs)

    def set(self, k: int) -> None:
        self.sess.run(self.fill, {self.k: k})


def step_of(prefix: str) -> int:
    """The one value every variable of ``prefix`` holds (asserted consistent)."""
    reader = load_checkpoint(prefix)
    b = reader.get_tensor("b")
    k = int(b[0])
    assert (b == k).all() and (reader.get_tensor("a") == k).all(), prefix
    assert int(reader.get_tensor("global_step")) == k, prefix
    assert list(reader.get_tensor("text")) == [str(k).encode()] * 2, prefix
    return k


def tree(directory) -> dict[str, bytes]:
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def temporaries(directory) -> list[str]:
    return [n for n in os.listdir(directory) if ".tmp-" in n or "tempstate" in n]


@contextlib.contextmanager
def pending_save(monkeypatch, directory, k: int = 8, release_after: float = 0.5) -> Iterator[str]:
    """An async save of step ``k`` into ``directory`` whose write is held, then let go
    ``release_after`` seconds after the body starts; yields the prefix ``save()`` returned."""
    gate = Gate(monkeypatch)
    model = Model()
    saver = model.saver(async_save=True)
    model.set(k)
    path = saver.save(model.sess, os.path.join(str(directory), "m"), global_step=k)
    assert gate.waiting.wait(30)
    threading.Timer(release_after, gate.open).start()
    try:
        yield path
    finally:
        gate.open()
        saver.close()


class RefModel:
    """One ref variable ``v`` (stock's graph-mode Saver saves it too) and a ref global
    step, in a graph of its own; ``save`` runs inside that graph (stock's needs it)."""

    def __init__(self, value=None, step: int = 7):
        value = np.arange(3, dtype=np.float32) if value is None else value
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.v = v1.Variable(value, name="v", use_resource=False)
            self.step = v1.Variable(np.int64(step), name="global_step", use_resource=False)
            self.sess = v1.Session(graph=self.graph)
            self.sess.run(v1.global_variables_initializer())

    def saver(self, cls=Saver, **kwargs):
        with self.graph.as_default():
            return cls(**kwargs)

    def save(self, saver, *args, **kwargs):
        with self.graph.as_default():
            return saver.save(self.sess, *args, **kwargs)


class StepGate:
    """Holds the background write of the checkpoints whose name ends in ``-<step>`` for
    ``step`` in ``steps`` until ``open()``; other writes pass."""

    def __init__(self, monkeypatch, *steps: int):
        self.event = threading.Event()
        self.waiting = threading.Event()
        self.steps = {f"-{s}" for s in steps}
        real = Saver._write_checkpoint

        def gated(saver, sess, checkpoint_file, save_op=None):
            if save_op is not None and any(checkpoint_file.endswith(s) for s in self.steps):
                self.waiting.set()
                assert self.event.wait(30), "gate never opened"
            return real(saver, sess, checkpoint_file, save_op=save_op)

        monkeypatch.setattr(Saver, "_write_checkpoint", gated)

    def open(self):
        self.event.set()

    def open_later(self, seconds: float = 0.5):
        timer = threading.Timer(seconds, self.open)
        timer.daemon = True
        timer.start()
