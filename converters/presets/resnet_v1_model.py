"""A Keras 3 model computing tf-slim's ``resnet_v1_{50,101,152}``.

``keras.applications.ResNet50`` is not slim's function: Keras puts a
block's stride in the first 1x1 convolution of its *first* unit, slim in the
3x3 convolution of its *last* unit (``resnet_v1.py``: units ``(depth,
bottleneck, 1) * (n - 1) + [(depth, bottleneck, stride)]``), and pads
convolutions its own way (``conv2d_same``: explicit symmetric padding for
strided ones, SAME otherwise). Both nets have the same weight shapes, so a
copy "succeeds" and predicts other classes. This builder follows slim:

* root: ``conv2d_same`` 7x7/2, 64 + BN + ReLU, 3x3/2 SAME max pool;
* blocks 1-3 stride 2 (in the last unit), block 4 stride 1;
* unit: shortcut = 1x1 conv + BN (stride s) when the depth changes, else a
  1x1/s max pool (subsampling); residual = 1x1 + BN + ReLU, 3x3/s
  ``conv2d_same`` + BN + ReLU, 1x1 + BN; output ReLU(shortcut + residual);
* head: global average pool, dense ``predictions``.

Batch norm: epsilon 1e-5, with gamma (slim's ``resnet_arg_scope``). Layer
names spell slim's scopes (``block2_unit4_conv2``), so plain rules map them.
"""

from __future__ import annotations

from typing import Any

UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
BN_EPSILON = 1e-5


def slim_resnet_v1(
    depth: int = 50,
    *,
    classes: int = 1000,
    input_shape: Any = None,
    include_top: bool = True,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Any:
    """The functional Keras model of slim's ``resnet_v1_<depth>``."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape or (224, 224, 3))
    x = _conv_same(inputs, 64, 7, 2, "conv1", layers)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    depth_in = 64
    for b, (units, base) in enumerate(zip(UNITS[depth], (64, 128, 256, 512), strict=True), 1):
        for u in range(1, units + 1):
            stride = 2 if (u == units and b < 4) else 1
            x = _unit(x, depth_in, base, stride, f"block{b}_unit{u}", layers)
            depth_in = base * 4
    x = layers.GlobalAveragePooling2D(name="pool5")(x)
    if include_top:
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or f"slim_resnet_v1_{depth}")


def _conv_same(x: Any, filters: int, size: int, stride: int, name: str, layers: Any) -> Any:
    """slim's ``conv2d_same``: SAME when stride 1, else symmetric explicit padding + VALID."""
    if stride == 1:
        return layers.Conv2D(filters, size, padding="same", use_bias=False, name=name)(x)
    total = size - 1
    x = layers.ZeroPadding2D((total // 2, total - total // 2), name=f"{name}_pad")(x)
    return layers.Conv2D(filters, size, strides=stride, padding="valid", use_bias=False, name=name)(
        x
    )


def _bn(x: Any, name: str, layers: Any, relu: bool) -> Any:
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _unit(x: Any, depth_in: int, base: int, stride: int, name: str, layers: Any) -> Any:
    depth = base * 4
    if depth == depth_in:
        shortcut = (
            x
            if stride == 1
            else layers.MaxPooling2D(1, strides=stride, name=f"{name}_subsample")(x)
        )
    else:
        shortcut = layers.Conv2D(depth, 1, strides=stride, use_bias=False, name=f"{name}_shortcut")(
            x
        )
        shortcut = _bn(shortcut, f"{name}_shortcut", layers, relu=False)
    r = layers.Conv2D(base, 1, use_bias=False, name=f"{name}_conv1")(x)
    r = _bn(r, f"{name}_conv1", layers, relu=True)
    r = _conv_same(r, base, 3, stride, f"{name}_conv2", layers)
    r = _bn(r, f"{name}_conv2", layers, relu=True)
    r = layers.Conv2D(depth, 1, use_bias=False, name=f"{name}_conv3")(r)
    r = _bn(r, f"{name}_conv3", layers, relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, r])
    return layers.Activation("relu", name=f"{name}_out")(x)
