"""TF1 definitions of tf-slim's MobileNet v1 and v2, for the preset tests.

tf_slim ships neither. These follow the public reference semantics of
tensorflow/models ``research/slim/nets/mobilenet_v1.py`` and
``nets/mobilenet/mobilenet_v2.py`` (variable scopes, SAME padding, ReLU6,
batch norm with beta and gamma, epsilon 0.001, a 1x1-convolution logits layer
with biases over the global average pool, 1001 classes), written with tf_slim
layers: the checkpoints they save have the names and shapes of the real ones.
"""

from __future__ import annotations

from typing import Any

# (stride, depth) of mobilenet_v1's 13 separable blocks, at multiplier 1.
V1_BLOCKS = [
    (1, 64),
    (2, 128),
    (1, 128),
    (2, 256),
    (1, 256),
    (2, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (1, 512),
    (2, 1024),
    (1, 1024),
]
# (expansion, stride, depth) of mobilenet_v2's 17 inverted-residual blocks.
V2_BLOCKS = [
    (1, 1, 16),
    (6, 2, 24),
    (6, 1, 24),
    (6, 2, 32),
    (6, 1, 32),
    (6, 1, 32),
    (6, 2, 64),
    (6, 1, 64),
    (6, 1, 64),
    (6, 1, 64),
    (6, 1, 96),
    (6, 1, 96),
    (6, 1, 96),
    (6, 2, 160),
    (6, 1, 160),
    (6, 1, 160),
    (6, 1, 320),
]


def _scope(slim: Any, tf: Any) -> Any:
    bn = {"center": True, "scale": True, "epsilon": 0.001, "is_training": False}
    return slim.arg_scope(
        [slim.conv2d, slim.separable_conv2d],
        padding="SAME",
        activation_fn=tf.nn.relu6,
        normalizer_fn=slim.batch_norm,
        normalizer_params=bn,
    )


def _logits(slim: Any, tf: Any, net: Any, classes: int) -> Any:
    net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
    logits = slim.conv2d(
        net, classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Logits/Conv2d_1c_1x1"
    )
    return tf.squeeze(logits, [1, 2])


def mobilenet_v1(slim: Any, tf: Any, x: Any, alpha: float = 1.0, classes: int = 1001) -> Any:
    """Logits of slim's ``mobilenet_v1`` (``depth_multiplier=alpha``, min depth 8)."""

    def depth(d: int) -> int:
        return max(int(d * alpha), 8)

    with tf.compat.v1.variable_scope("MobilenetV1"), _scope(slim, tf):
        net = slim.conv2d(x, depth(32), [3, 3], stride=2, scope="Conv2d_0")
        for i, (stride, d) in enumerate(V1_BLOCKS, 1):
            net = slim.separable_conv2d(
                net, None, [3, 3], depth_multiplier=1, stride=stride, scope=f"Conv2d_{i}_depthwise"
            )
            net = slim.conv2d(net, depth(d), [1, 1], stride=1, scope=f"Conv2d_{i}_pointwise")
        return _logits(slim, tf, net, classes)


def mobilenet_v2(slim: Any, tf: Any, x: Any, classes: int = 1001) -> Any:
    """Logits of slim's ``mobilenet_v2`` at depth multiplier 1."""
    with tf.compat.v1.variable_scope("MobilenetV2"), _scope(slim, tf):
        net = slim.conv2d(x, 32, [3, 3], stride=2, scope="Conv")
        for i, (expansion, stride, d) in enumerate(V2_BLOCKS):
            name = "expanded_conv" if i == 0 else f"expanded_conv_{i}"
            with tf.compat.v1.variable_scope(name):
                inputs, depth_in = net, int(net.shape[-1])
                if expansion > 1:
                    net = slim.conv2d(net, expansion * depth_in, [1, 1], scope="expand")
                net = slim.separable_conv2d(
                    net, None, [3, 3], depth_multiplier=1, stride=stride, scope="depthwise"
                )
                net = slim.conv2d(net, d, [1, 1], activation_fn=None, scope="project")
                if stride == 1 and depth_in == d:
                    net = net + inputs
        net = slim.conv2d(net, 1280, [1, 1], scope="Conv_1")
        return _logits(slim, tf, net, classes)
