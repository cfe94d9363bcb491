"""Pure planning: rules, names, object graphs and plans, no files, no TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from converters.flatten import plan_identity, plan_tf2_to_tf1, tf1_names
from converters.names import (
    classify_optimizer_names,
    escape_local_name,
    slot_key,
    tf1_slot_suffix,
    unescape_local_name,
    variable_key,
)
from converters.object_graph import parse_object_graph
from converters.plan import Transform
from converters.rules import (
    Rule,
    RuleError,
    apply_rules,
    apply_transform,
    load_rules,
    transformed_shape,
)
from converters.structural import plan_structural
from legacy_saver.bundle.protos import TrackableObjectGraph
from legacy_saver.errors import CheckpointError


def graph_of(plan):
    g = TrackableObjectGraph()
    g.ParseFromString(plan.object_graph)
    return g


# -- rules -------------------------------------------------------------------
def test_first_matching_rule_wins_and_groups_expand():
    rules = [
        Rule(r"^vgg_16/(conv\d)/\w+_(\d)/weights$", to=r"block\1_\2/kernel"),
        Rule(r"^vgg_16/", to=""),
        Rule(r"/Momentum$", drop=True),
    ]
    assert apply_rules("vgg_16/conv1/conv1_2/weights", rules) == ("blockconv1_2/kernel", rules[0])
    assert apply_rules("vgg_16/fc8/biases", rules) == ("fc8/biases", rules[1])
    assert apply_rules("w/Momentum", rules) == (None, rules[2])
    assert apply_rules("other", rules) == ("other", None)


def test_rule_validation_messages():
    with pytest.raises(RuleError, match="not a valid regex"):
        Rule("(")
    with pytest.raises(RuleError, match="not a permutation"):
        Rule("a", transpose=(0, 0))
    with pytest.raises(RuleError, match="unknown dtype 'floaty'"):
        Rule("a", cast="floaty")
    with pytest.raises(RuleError, match="drop = true excludes"):
        Rule("a", drop=True, to="b")


def test_load_rules_from_toml(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(
        "[[rule]]\nmatch = '^vgg_16/fc6/weights$'\nto = 'fc1/kernel'\nreshape = [25088, 4096]\n\n"
        "[[rule]]\nmatch = '/Momentum$'\ndrop = true\n"
    )
    rules = load_rules(path)
    assert rules == [
        Rule("^vgg_16/fc6/weights$", to="fc1/kernel", reshape=(25088, 4096)),
        Rule("/Momentum$", drop=True),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[rule]]\nto = 'x'\n", "rule 1: 'match' must be a string regex"),
        (
            "[[rule]]\nmatch = 'a'\n[[rule]]\nmatch = 'b'\nreshape = 'x'\n",
            "rule 2: 'reshape' must be a list",
        ),
        ("[[rule]]\nmatch = 'a'\nrename = 'b'\n", "rule 1: unknown keys \\['rename'\\]"),
        ("[[rule]]\nmatch = '('\n", "rule 1: match '\\(' is not a valid regex"),
        ("[rule]\nmatch = 'a'\n", "has no \\[\\[rule\\]\\] tables"),
        ("match = 'a'\n", "unknown top-level keys"),
        ("[[rule]\n", "is not valid TOML"),
    ],
)
def test_load_rules_errors_name_file_and_rule(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=message) as info:
        load_rules(path)
    assert str(path) in str(info.value)


def test_transforms_shape_and_value():
    t = Transform(transpose=(1, 0), reshape=(6,), cast="float16")
    assert transformed_shape((3, 2), t) == (6,)
    value = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = apply_transform(value, t)
    assert out.dtype == np.float16 and out.tolist() == [0, 2, 4, 1, 3, 5]
    with pytest.raises(RuleError, match="reshape to \\[7\\] needs 7 elements"):
        transformed_shape((3, 2), Transform(reshape=(7,)))
    assert apply_transform(np.float32(3), Transform()).shape == ()


# -- names -------------------------------------------------------------------
def test_escaping_round_trips_and_keys():
    assert escape_local_name("a.b/c") == "a..b.Sc"
    for name in ["a.b/c", "..", "./.S", ".S", "plain"]:
        assert unescape_local_name(escape_local_name(name)) == name
    assert variable_key(("a", "b.c")) == "a/b..c/.ATTRIBUTES/VARIABLE_VALUE"
    assert (
        slot_key(("w",), ("optimizer",), "m")
        == "w/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"
    )


def test_classify_tf1_and_keras_v2_optimizer_names():
    names = ["w", "w/Adam", "w/Adam_1", "beta1_power", "training/beta2_power",
             "training/x/kernel/Adam", "x/kernel", "training/Adagrad/dnn/b/accumulator", "dnn/b",
             "training/Adagrad/learning_rate", "v/Momentum", "r", "r/RMSProp", "r/RMSProp_1",
             "c", "c/RMSProp", "c/RMSProp_1", "c/RMSProp_2", "orphan/Adam", "global_step",
             "model/Adam/bias"]  # fmt: skip
    found = classify_optimizer_names(names)
    slot = {k: (v.variable, v.slot_name) for k, v in found.items() if v.kind == "slot"}
    assert slot == {
        "w/Adam": ("w", "m"), "w/Adam_1": ("w", "v"), "training/x/kernel/Adam": ("x/kernel", "m"),
        "training/Adagrad/dnn/b/accumulator": ("dnn/b", "accumulator"),
        "r/RMSProp": ("r", "rms"), "r/RMSProp_1": ("r", "momentum"),
        "c/RMSProp": ("c", "rms"), "c/RMSProp_1": ("c", "mg"), "c/RMSProp_2": ("c", "momentum"),
    }  # fmt: skip
    non_slot = {k: v.local for k, v in found.items() if v.kind == "non_slot"}
    assert non_slot == {"beta1_power": "beta1_power", "training/beta2_power": "beta2_power",
                        "training/Adagrad/learning_rate": "learning_rate"}  # fmt: skip
    # no variable "v" stored: not a slot; unknown hyperparameter names are model variables
    assert "v/Momentum" not in found and "orphan/Adam" not in found
    assert "model/Adam/bias" not in found and "global_step" not in found


def test_tf1_slot_suffixes_invert_the_table():
    assert tf1_slot_suffix("m", ["m", "v"]) == "Adam"
    assert tf1_slot_suffix("v", ["m", "v"]) == "Adam_1"
    assert tf1_slot_suffix("momentum", ["momentum"]) == "Momentum"
    assert tf1_slot_suffix("momentum", ["rms", "momentum"]) == "RMSProp_1"
    assert tf1_slot_suffix("momentum", ["rms", "mg", "momentum"]) == "RMSProp_2"
    assert tf1_slot_suffix("accumulator", ["accumulator", "linear"]) == "Ftrl"
    assert tf1_slot_suffix("linear", ["accum", "linear"]) == "Ftrl_1"
    assert tf1_slot_suffix("weird", ["weird"]) == "weird"


# -- structural planning ------------------------------------------------------
SHAPES = {"a/b": (2,), "a/b/c": (3,), "a/b/c/Adam": (3,), "a/b/c/Adam_1": (3,),
          "beta1_power": (), "beta2_power": (), "global_step": (), "x.y/z": (1,)}  # fmt: skip


def test_structural_plan_mirrors_scopes_and_places_slots():
    plan = plan_structural(SHAPES)
    dst = {a.src: a.dst for a in plan.actions}
    assert dst == {
        "a/b": "a/b/.ATTRIBUTES/VARIABLE_VALUE",
        "a/b/c": "a/b/c/.ATTRIBUTES/VARIABLE_VALUE",
        "a/b/c/Adam": "a/b/c/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
        "a/b/c/Adam_1": "a/b/c/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE",
        "beta1_power": "optimizer/beta1_power/.ATTRIBUTES/VARIABLE_VALUE",
        "beta2_power": "optimizer/beta2_power/.ATTRIBUTES/VARIABLE_VALUE",
        "global_step": "global_step/.ATTRIBUTES/VARIABLE_VALUE",
        "x.y/z": "x..y/z/.ATTRIBUTES/VARIABLE_VALUE",
    }
    g = graph_of(plan)
    attrs = {a.key: a for a in parse_object_graph(g)}
    assert set(attrs) == set(dst.values())
    assert {k: a.full_name for k, a in attrs.items()} == {v: k for k, v in dst.items()}
    # node a/b holds a value and a child
    b = next(n for n in g.nodes if any(c.local_name == "c" for c in n.children))
    assert [a.full_name for a in b.attributes] == ["a/b"]
    # slots referenced from the optimizer node, as TF writes them
    (opt,) = [n for n in g.nodes if n.slot_variables]
    assert sorted(s.slot_name for s in opt.slot_variables) == ["m", "v"]
    assert sorted(c.local_name for c in opt.children) == ["beta1_power", "beta2_power"]
    assert g.nodes[0].children[-1].local_name in {"x.y", "optimizer", "global_step", "a"}


def test_structural_drop_optimizer_lists_every_slot():
    plan = plan_structural(SHAPES, optimizer="drop")
    assert {d.src for d in plan.dropped} == {
        "a/b/c/Adam",
        "a/b/c/Adam_1",
        "beta1_power",
        "beta2_power",
    }
    assert all(
        ".OPTIMIZER_SLOT" not in a.dst and not a.dst.startswith("optimizer/") for a in plan.actions
    )
    assert not any(n.slot_variables for n in graph_of(plan).nodes)


def test_structural_rules_rename_transform_and_slots_follow():
    rules = [Rule("^a/b/c$", to="k/kernel", transpose=(0,)), Rule("^x", drop=True)]
    plan = plan_structural(SHAPES, rules=rules)
    by_src = {a.src: a for a in plan.actions}
    assert by_src["a/b/c"].dst == "k/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    assert by_src["a/b/c/Adam"].dst.startswith("k/kernel/.OPTIMIZER_SLOT/optimizer/m/")
    assert by_src["a/b/c/Adam"].transform == Transform(transpose=(0,))
    assert [d.src for d in plan.dropped] == ["x.y/z"]


def test_structural_collisions_and_bad_transforms_raise():
    with pytest.raises(CheckpointError, match="'a' and 'b' both map to 'c'"):
        plan_structural({"a": (1,), "b": (1,)}, rules=[Rule("^[ab]$", to="c")])
    with pytest.raises(RuleError, match="'a': reshape to \\[5\\] needs 5"):
        plan_structural({"a": (2, 2)}, rules=[Rule("a", reshape=(5,))])
    with pytest.raises(CheckpointError, match="empty component"):
        plan_structural({"a": (1,)}, rules=[Rule("a", to="x//y")])
    with pytest.raises(CheckpointError, match="model scope is named 'optimizer'"):
        plan_structural({"optimizer/w": (1,), "w": (1,), "w/Adam": (1,)})


def test_hand_split_variables_stay_separate():
    shapes = {f"emb/weights_{i}": (4, 2) for i in range(16)}
    plan = plan_structural(shapes)
    assert sorted(a.dst for a in plan.actions) == sorted(
        f"emb/weights_{i}/.ATTRIBUTES/VARIABLE_VALUE" for i in range(16)
    )


# -- tf2 -> tf1 planning --------------------------------------------------------
def test_flatten_inverts_structural_plan():
    plan = plan_structural(SHAPES)
    keys = [a.dst for a in plan.actions] + ["_CHECKPOINTABLE_OBJECT_GRAPH"]
    back = plan_tf2_to_tf1(graph_of(plan), keys)
    assert {a.dst for a in back.actions} == set(SHAPES)
    assert {a.src: a.dst for a in back.actions} == {a.dst: a.src for a in plan.actions}


def test_flatten_uses_slot_table_when_full_names_collide():
    g = TrackableObjectGraph()
    for _ in range(5):
        g.nodes.add()
    g.nodes[0].children.add(node_id=1, local_name="w")
    g.nodes[0].children.add(node_id=2, local_name="opt")
    g.nodes[1].attributes.add(
        name="VARIABLE_VALUE", full_name="w", checkpoint_key="w/.ATTRIBUTES/VARIABLE_VALUE"
    )
    for node, slot in ((3, "m"), (4, "v")):
        key = f"w/.OPTIMIZER_SLOT/opt/{slot}/.ATTRIBUTES/VARIABLE_VALUE"
        g.nodes[node].attributes.add(name="VARIABLE_VALUE", full_name="w/Adam", checkpoint_key=key)
        g.nodes[2].slot_variables.add(
            original_variable_node_id=1, slot_name=slot, slot_variable_node_id=node
        )
    keys = [a.checkpoint_key for n in g.nodes for a in n.attributes]
    assert sorted(a.dst for a in plan_tf2_to_tf1(g, keys).actions) == ["w", "w/Adam", "w/Adam_1"]
    dropped = plan_tf2_to_tf1(g, keys, optimizer="drop")
    assert [a.dst for a in dropped.actions] == ["w"] and len(dropped.dropped) == 2
    names = tf1_names(parse_object_graph(g))
    assert names["w/.OPTIMIZER_SLOT/opt/v/.ATTRIBUTES/VARIABLE_VALUE"] == (
        "w/Adam_1",
        "optimizer-slot",
    )


def test_flatten_refuses_collapsing_names():
    g = TrackableObjectGraph()
    for _ in range(3):
        g.nodes.add()
    for node, name in ((1, "a"), (2, "b")):
        g.nodes[0].children.add(node_id=node, local_name=name)
        key = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        attrs = g.nodes[node].attributes
        attrs.add(name="VARIABLE_VALUE", full_name=f"{name}x", checkpoint_key=key)
    keys = [a.checkpoint_key for n in g.nodes for a in n.attributes]
    with pytest.raises(CheckpointError, match="would both be saved as 'same'"):
        plan_tf2_to_tf1(g, keys, rules=[Rule("^[ab]x$", to="same")])
    assert plan_identity(["a", "b"], rules=[Rule("a", drop=True)]).dropped[0].src == "a"
