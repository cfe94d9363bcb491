"""A TF1 definition of tf-slim's Inception-ResNet-v2, for the preset test.

tf_slim ships none. This follows the public reference semantics of
tensorflow/models ``research/slim/nets/inception_resnet_v2.py`` (scopes,
paddings, residual scales 0.17/0.10/0.20, the final ``Block8`` without
activation, batch norm without gamma, epsilon 0.001), written with tf_slim
layers, so its checkpoint has the real names and shapes. No auxiliary head.
"""

from __future__ import annotations

from typing import Any


def _cbr(slim: Any, net: Any, depth: int, size: Any, scope: str, **kw: Any) -> Any:
    return slim.conv2d(net, depth, size, scope=scope, **kw)


def _block(
    slim: Any,
    tf: Any,
    net: Any,
    branches: list[list[tuple[int, Any]]],
    scale: float,
    activation: Any,
    scope: str,
) -> Any:
    with tf.compat.v1.variable_scope(scope):
        outs = []
        for b, convs in enumerate(branches):
            with tf.compat.v1.variable_scope(f"Branch_{b}"):
                x = net
                names = (
                    ["Conv2d_1x1"]
                    if len(convs) == 1
                    else [f"Conv2d_0{'abc'[i]}_{_size(k)}" for i, (_, k) in enumerate(convs)]
                )
                for (depth, k), name in zip(convs, names, strict=True):
                    x = _cbr(slim, x, depth, k, name)
                outs.append(x)
        mixed = tf.concat(outs, 3)
        up = slim.conv2d(
            mixed, int(net.shape[3]), 1, normalizer_fn=None, activation_fn=None, scope="Conv2d_1x1"
        )
        net = net + scale * up
        return activation(net) if activation is not None else net


def _size(k: Any) -> str:
    return f"{k}x{k}" if isinstance(k, int) else f"{k[0]}x{k[1]}"


B35 = [[(32, 1)], [(32, 1), (32, 3)], [(32, 1), (48, 3), (64, 3)]]
B17 = [[(192, 1)], [(128, 1), (160, [1, 7]), (192, [7, 1])]]
B8 = [[(192, 1)], [(192, 1), (224, [1, 3]), (256, [3, 1])]]


def inception_resnet_v2(slim: Any, tf: Any, x: Any, classes: int = 1001) -> Any:
    """Logits of slim's ``inception_resnet_v2`` (no AuxLogits)."""
    bn = {"scale": False, "epsilon": 0.001, "is_training": False}
    relu = tf.nn.relu
    with (
        tf.compat.v1.variable_scope("InceptionResnetV2"),
        slim.arg_scope(
            [slim.conv2d],
            normalizer_fn=slim.batch_norm,
            normalizer_params=bn,
            activation_fn=relu,
            padding="SAME",
        ),
        slim.arg_scope([slim.max_pool2d, slim.avg_pool2d], stride=1, padding="SAME"),
    ):
        net = _cbr(slim, x, 32, 3, "Conv2d_1a_3x3", stride=2, padding="VALID")
        net = _cbr(slim, net, 32, 3, "Conv2d_2a_3x3", padding="VALID")
        net = _cbr(slim, net, 64, 3, "Conv2d_2b_3x3")
        net = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_3a_3x3")
        net = _cbr(slim, net, 80, 1, "Conv2d_3b_1x1", padding="VALID")
        net = _cbr(slim, net, 192, 3, "Conv2d_4a_3x3", padding="VALID")
        net = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_5a_3x3")
        with tf.compat.v1.variable_scope("Mixed_5b"):
            with tf.compat.v1.variable_scope("Branch_0"):
                b0 = _cbr(slim, net, 96, 1, "Conv2d_1x1")
            with tf.compat.v1.variable_scope("Branch_1"):
                b1 = _cbr(slim, _cbr(slim, net, 48, 1, "Conv2d_0a_1x1"), 64, 5, "Conv2d_0b_5x5")
            with tf.compat.v1.variable_scope("Branch_2"):
                b2 = _cbr(slim, net, 64, 1, "Conv2d_0a_1x1")
                b2 = _cbr(slim, _cbr(slim, b2, 96, 3, "Conv2d_0b_3x3"), 96, 3, "Conv2d_0c_3x3")
            with tf.compat.v1.variable_scope("Branch_3"):
                b3 = slim.avg_pool2d(net, 3, scope="AvgPool_0a_3x3")
                b3 = _cbr(slim, b3, 64, 1, "Conv2d_0b_1x1")
            net = tf.concat([b0, b1, b2, b3], 3)
        with tf.compat.v1.variable_scope("Repeat"):
            for i in range(1, 11):
                net = _block(slim, tf, net, B35, 0.17, relu, f"block35_{i}")
        with tf.compat.v1.variable_scope("Mixed_6a"):
            with tf.compat.v1.variable_scope("Branch_0"):
                b0 = _cbr(slim, net, 384, 3, "Conv2d_1a_3x3", stride=2, padding="VALID")
            with tf.compat.v1.variable_scope("Branch_1"):
                b1 = _cbr(slim, net, 256, 1, "Conv2d_0a_1x1")
                b1 = _cbr(slim, b1, 256, 3, "Conv2d_0b_3x3")
                b1 = _cbr(slim, b1, 384, 3, "Conv2d_1a_3x3", stride=2, padding="VALID")
            with tf.compat.v1.variable_scope("Branch_2"):
                b2 = slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_1a_3x3")
            net = tf.concat([b0, b1, b2], 3)
        with tf.compat.v1.variable_scope("Repeat_1"):
            for i in range(1, 21):
                net = _block(slim, tf, net, B17, 0.10, relu, f"block17_{i}")
        with tf.compat.v1.variable_scope("Mixed_7a"):
            outs = []
            for b, convs in enumerate([[256, 384], [256, 288], [256, 288, 320]]):
                with tf.compat.v1.variable_scope(f"Branch_{b}"):
                    y = _cbr(slim, net, convs[0], 1, "Conv2d_0a_1x1")
                    if len(convs) == 3:
                        y = _cbr(slim, y, convs[1], 3, "Conv2d_0b_3x3")
                    outs.append(
                        _cbr(slim, y, convs[-1], 3, "Conv2d_1a_3x3", stride=2, padding="VALID")
                    )
            with tf.compat.v1.variable_scope("Branch_3"):
                outs.append(
                    slim.max_pool2d(net, 3, stride=2, padding="VALID", scope="MaxPool_1a_3x3")
                )
            net = tf.concat(outs, 3)
        with tf.compat.v1.variable_scope("Repeat_2"):
            for i in range(1, 10):
                net = _block(slim, tf, net, B8, 0.20, relu, f"block8_{i}")
        net = _block(slim, tf, net, B8, 1.0, None, "Block8")
        net = _cbr(slim, net, 1536, 1, "Conv2d_7b_1x1")
        with tf.compat.v1.variable_scope("Logits"):
            net = tf.reduce_mean(net, [1, 2])
            return slim.fully_connected(net, classes, activation_fn=None, scope="Logits")
