"""``layout="torch"``: Dense, convolution, depthwise and batch-norm tensors in
``torch.nn``'s layouts, proved numerically: against independent numpy
implementations of both frameworks' operations (always), and with a real
``torch.nn`` module loading the file against the TF1 graph that saved it (when
torch and TensorFlow are installed)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from converters.safetensors import stream, to_safetensors
from legacy_saver.bundle import BundleWriter

safetensors_numpy = pytest.importorskip("safetensors.numpy")

RNG = np.random.default_rng(1616)


def _weights(multiplier: int = 2) -> dict[str, np.ndarray]:
    """Random weights AND random batch-norm statistics (variances kept positive)."""
    c_in, c_mid = 3, 4
    return {
        "conv/kernel": RNG.standard_normal((3, 3, c_in, c_mid)).astype(np.float32),
        "conv/bias": RNG.standard_normal(c_mid).astype(np.float32),
        "dw/depthwise_kernel": RNG.standard_normal((3, 3, c_mid, multiplier)).astype(np.float32),
        "bn/gamma": RNG.standard_normal(c_mid * multiplier).astype(np.float32),
        "bn/beta": RNG.standard_normal(c_mid * multiplier).astype(np.float32),
        "bn/moving_mean": RNG.standard_normal(c_mid * multiplier).astype(np.float32),
        "bn/moving_variance": RNG.uniform(0.5, 2.0, c_mid * multiplier).astype(np.float32),
        "fc/kernel": RNG.standard_normal((c_mid * multiplier, 5)).astype(np.float32),
        "fc/bias": RNG.standard_normal(5).astype(np.float32),
    }


def _export(tmp_path, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    prefix = str(tmp_path / "m.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for k, v in weights.items():
            w.add(k, v)
    out = str(tmp_path / "m.safetensors")
    to_safetensors(prefix, out, layout="torch")
    return safetensors_numpy.load_file(out)


# -- the two frameworks' operations, written out in numpy -------------------------------------


def tf_conv_same(x_nhwc: np.ndarray, k_hwio: np.ndarray) -> np.ndarray:
    kh, kw = k_hwio.shape[:2]
    pad = np.pad(x_nhwc, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, w, _ = x_nhwc.shape
    out = np.zeros((n, h, w, k_hwio.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", pad[:, i : i + h, j : j + w], k_hwio[i, j])
    return out


def tf_depthwise_same(x_nhwc: np.ndarray, k_hwcm: np.ndarray) -> np.ndarray:
    kh, kw, c, m = k_hwcm.shape
    pad = np.pad(x_nhwc, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, w, _ = x_nhwc.shape
    out = np.zeros((n, h, w, c, m))
    for i in range(kh):
        for j in range(kw):
            out += pad[:, i : i + h, j : j + w, :, None] * k_hwcm[i, j]
    return out.reshape(n, h, w, c * m)  # TF's channel order: c * multiplier + m


def torch_conv2d(x_nchw: np.ndarray, w_oihw: np.ndarray, groups: int = 1) -> np.ndarray:
    """``torch.nn.functional.conv2d`` (stride 1, padding k // 2, groups)."""
    o, i_per_group, kh, kw = w_oihw.shape
    pad = np.pad(x_nchw, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    n, _, h, w = x_nchw.shape
    out = np.zeros((n, o, h, w))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for ic in range(i_per_group):
            for i in range(kh):
                for j in range(kw):
                    out[:, oc] += (
                        pad[:, g * i_per_group + ic, i : i + h, j : j + w] * w_oihw[oc, ic, i, j]
                    )
    return out


def test_torch_layout_against_independent_numpy(tmp_path):
    weights = _weights()
    st = _export(tmp_path, weights)
    x = RNG.standard_normal((2, 5, 6, 3))
    # TF side, NHWC
    y = tf_conv_same(x, weights["conv/kernel"]) + weights["conv/bias"]
    y = tf_depthwise_same(y, weights["dw/depthwise_kernel"])
    y = (y - weights["bn/moving_mean"]) / np.sqrt(weights["bn/moving_variance"] + 1e-3)
    y = y * weights["bn/gamma"] + weights["bn/beta"]
    tf_out = y.mean(axis=(1, 2)) @ weights["fc/kernel"] + weights["fc/bias"]
    # torch side, NCHW, only the exported tensors
    z = torch_conv2d(x.transpose(0, 3, 1, 2), st["conv.weight"]) + st["conv.bias"][:, None, None]
    z = torch_conv2d(z, st["dw.weight"], groups=4)
    stats = (st["bn.running_mean"][:, None, None], st["bn.running_var"][:, None, None])
    z = (z - stats[0]) / np.sqrt(stats[1] + 1e-3) * st["bn.weight"][:, None, None]
    z = z + st["bn.bias"][:, None, None]
    torch_out = z.mean(axis=(2, 3)) @ st["fc.weight"].T + st["fc.bias"]
    np.testing.assert_allclose(torch_out, tf_out, rtol=1e-5, atol=1e-5)
    assert st["conv.weight"].shape == (4, 3, 3, 3) and st["dw.weight"].shape == (8, 1, 3, 3)
    assert st["fc.weight"].shape == (5, 8)
    assert st["bn.num_batches_tracked"].dtype == np.int64 and st["bn.num_batches_tracked"] == 0


@pytest.mark.parametrize("block, tile", [(64, 256), (1000, 3), (1 << 20, 7), (1 << 20, 256)])
def test_layouts_are_the_same_in_any_block_size(tmp_path, monkeypatch, block, tile):
    monkeypatch.setattr(stream, "BLOCK_BYTES", block)
    monkeypatch.setattr(stream, "TILE", tile)
    weights = {"a/kernel": RNG.standard_normal((37, 29)).astype(np.float32),
               "b/weights": RNG.standard_normal((3, 5, 7, 11)).astype(np.float64),
               "c/depthwise_weights": RNG.standard_normal((5, 3, 6, 3)).astype(np.float16),
               "d/kernel": RNG.standard_normal((4, 6, 9)).astype(np.float32)}  # fmt: skip
    st = _export(tmp_path, weights)
    np.testing.assert_array_equal(st["a.weight"], weights["a/kernel"].T)
    np.testing.assert_array_equal(st["b.weight"], weights["b/weights"].transpose(3, 2, 0, 1))
    dw = weights["c/depthwise_weights"]
    want = np.empty((18, 1, 5, 3), np.float16)
    for c in range(6):
        for m in range(3):
            want[c * 3 + m, 0] = dw[:, :, c, m]
    np.testing.assert_array_equal(st["c.weight"], want)
    np.testing.assert_array_equal(st["d.weight"], weights["d/kernel"].transpose(2, 1, 0))


# -- a real torch.nn module against the TF1 graph ---------------------------------------------


@pytest.mark.tf
@pytest.mark.slow
def test_torch_module_loading_the_file_matches_the_tf1_graph(tf, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    weights = _weights()
    x = RNG.standard_normal((2, 6, 7, 3)).astype(np.float32)
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        v = {k: tf.compat.v1.get_variable(k, initializer=val) for k, val in weights.items()}
        inp = tf.compat.v1.placeholder(tf.float32, (None, 6, 7, 3))
        y = tf.nn.conv2d(inp, v["conv/kernel"], strides=1, padding="SAME") + v["conv/bias"]
        y = tf.nn.depthwise_conv2d(y, v["dw/depthwise_kernel"], [1, 1, 1, 1], "SAME")
        y = tf.nn.batch_normalization(y, v["bn/moving_mean"], v["bn/moving_variance"],
                                      v["bn/beta"], v["bn/gamma"], 1e-3)  # fmt: skip
        y = tf.nn.relu(y)
        out = tf.matmul(tf.reduce_mean(y, axis=[1, 2]), v["fc/kernel"]) + v["fc/bias"]
        sess.run(tf.compat.v1.global_variables_initializer())
        expected = sess.run(out, {inp: x})
        prefix = tf.compat.v1.train.Saver().save(sess, os.path.join(tmp_path, "tf1", "model"))
    dst = str(tmp_path / "model.safetensors")
    to_safetensors(prefix, dst, layout="torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.dw = torch.nn.Conv2d(4, 8, 3, padding=1, groups=4, bias=False)
            self.bn = torch.nn.BatchNorm2d(8, eps=1e-3)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, t):
            t = torch.relu(self.bn(self.dw(self.conv(t))))
            return self.fc(t.mean(dim=(2, 3)))

    net = Net().eval()
    net.load_state_dict(load_file(dst), strict=True)  # every key present, none extra
    with torch.no_grad():
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_float8_tensors_read_back_through_safe_open_in_torch(tmp_path):
    torch = pytest.importorskip("torch")
    import ml_dtypes
    from safetensors import safe_open

    values = {name: RNG.integers(0, 256, (3, 4), dtype=np.uint8).view(dtype)
              for name, dtype in [("e4m3", ml_dtypes.float8_e4m3fn),
                                  ("e5m2", ml_dtypes.float8_e5m2),
                                  ("e4m3fnuz", ml_dtypes.float8_e4m3fnuz),
                                  ("e5m2fnuz", ml_dtypes.float8_e5m2fnuz)]}  # fmt: skip
    prefix = str(tmp_path / "f8.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        for k, v in values.items():
            w.add(k, v)
    out = str(tmp_path / "f8.safetensors")
    to_safetensors(prefix, out)
    want = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2,
            "e4m3fnuz": torch.float8_e4m3fnuz, "e5m2fnuz": torch.float8_e5m2fnuz}  # fmt: skip
    with safe_open(out, framework="pt") as f:
        for key, value in values.items():
            got = f.get_tensor(key)
            assert got.dtype == want[key] and tuple(got.shape) == value.shape
            assert got.view(torch.uint8).numpy().tobytes() == value.tobytes()
