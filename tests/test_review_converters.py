"""Adversarial review of convert / presets / bert / safetensors (review1).

Every test here fails on main at 92a1803 and names, in its docstring, the defect it
proves. Most are TensorFlow-free and fast; the TensorFlow ones are marked ``tf``.
(The review's async-Saver tests live with the Saver's: tests/test_saver_async_review.py.)
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from converters import to_safetensors
from converters.cli import main
from converters.presets.text import convert_text
from converters.safetensors.spec import read_header
from legacy_saver.bundle import BundleWriter, load_checkpoint
from legacy_saver.bundle.naming import OBJECT_GRAPH_KEY
from legacy_saver.bundle.protos import TrackableObjectGraph
from legacy_saver.errors import CheckpointError, CorruptCheckpointError
from tests.test_presets_bert_plan import bert_shapes, write_checkpoint


@pytest.fixture
def src(tmp_path):
    prefix = str(tmp_path / "src" / "m.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        w.add("fc/kernel", np.arange(6, dtype=np.float32).reshape(2, 3))
        w.add("fc/bias", np.arange(3, dtype=np.float32))
        w.add("fc/kernel/ExponentialMovingAverage", np.full((2, 3), 7.0, np.float32))
    return prefix


def _rules(tmp_path, text: str) -> str:
    path = tmp_path / f"rules_{abs(hash(text))}.toml"
    path.write_text(text)
    return str(path)


def _usage_code(argv: list[str]) -> object:
    """The exit code ``main`` gives: its return value, or SystemExit's code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


# -- plan record and destinations ---------------------------------------------------------


def test_verify_passes_a_conversion_made_with_a_slice_rule(src, tmp_path, capsys):
    """record.py drops Transform.slice, so verify (from the record) fails a correct conversion."""
    rules = _rules(tmp_path, '[[rule]]\nmatch = "^fc/kernel$"\nslice = "..., 1:"\n')
    dst = str(tmp_path / "out" / "tf2")
    assert main(["convert", src, dst, "--rules", rules]) == 0
    capsys.readouterr()
    assert main(["verify", src, dst]) == 0, capsys.readouterr().out


def test_convert_never_replaces_a_foreign_plan_json(src, tmp_path):
    """convert writes DST.plan.json over an existing user file without --overwrite."""
    dst = tmp_path / "out" / "tf2"
    dst.parent.mkdir()
    mine = dst.parent / "tf2.plan.json"
    mine.write_text("my notes, not a plan record\n")
    assert main(["convert", src, str(dst)]) == 1  # refused, not silently left unrecorded
    assert mine.read_text() == "my notes, not a plan record\n"
    assert not os.path.exists(str(dst) + ".index")
    # --overwrite replaces a plan record of ours, never a stranger's file of that name
    assert main(["convert", src, str(dst), "--overwrite"]) == 1
    assert mine.read_text() == "my notes, not a plan record\n"
    mine.unlink()
    assert main(["convert", src, str(dst)]) == 0
    assert main(["convert", src, str(dst), "--overwrite"]) == 0
    assert json.loads(mine.read_text())["schema"] == "legacy-ckpt/plan/1"


def test_convert_never_replaces_a_fifo_at_dst_index(src, tmp_path):
    """A FIFO named DST.index is replaced without --overwrite (safetensors refuses the same)."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "d.index")
    code = main(["convert", src, str(out / "d")])
    assert code == 1 and os.path.exists(out / "d.index")
    assert not os.path.isfile(out / "d.index"), "the FIFO was replaced by a checkpoint index"


# -- CLI flags and values --------------------------------------------------------------------


@pytest.mark.parametrize("flag", [["--ema"], ["--option", "alpha=0.25"]])
def test_flags_safetensors_ignores_are_usage_errors(src, tmp_path, capsys, flag):
    """--ema/--option are silently ignored by convert DST.safetensors (--ema: raw weights)."""
    out = str(tmp_path / "o.safetensors")
    assert _usage_code(["convert", src, out, *flag]) == 2
    assert not os.path.exists(out)


@pytest.mark.parametrize("size", ["inf", "nan", "1e400"])
def test_non_finite_shard_sizes_are_usage_errors(src, tmp_path, capsys, size):
    """--shard-size inf/1e400 crash with an OverflowError traceback; nan exits 1, not 2."""
    out = str(tmp_path / "o.safetensors")
    assert _usage_code(["convert", src, out, "--shard-size", size]) == 2


def test_option_without_a_preset_is_a_usage_error(src, tmp_path):
    """--option without --preset exits 1 (merge lost the UsageError; main's own test fails)."""
    assert _usage_code(["convert", src, str(tmp_path / "x"), "--option", "head=mlm"]) == 2


def test_presets_listing_names_every_preset_convert_accepts(capsys):
    """`legacy-ckpt presets` omits bert-hf, which `convert --preset bert-hf` accepts."""
    assert main(["presets", "--json"]) == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)["presets"]}
    assert "bert-hf" in names


# -- rules: user input that must be a typed error ---------------------------------------------


def test_negative_reshape_is_refused_not_written(src, tmp_path, capsys):
    """reshape = [-2, -3] passes the element-count check; the header gets shape [-2, -3]."""
    rules = _rules(tmp_path, '[[rule]]\nmatch = "^fc/kernel$"\nreshape = [-2, -3]\n')
    out = str(tmp_path / "neg.safetensors")
    code = main(["convert", src, out, "--rules", rules])
    if code == 0:  # success claimed: then the file must be readable
        read_header(out)
    else:
        assert "reshape" in capsys.readouterr().err


@pytest.mark.parametrize("dst", ["tf2", "o.safetensors"])
def test_bad_group_reference_in_to_is_a_rule_error(src, tmp_path, capsys, dst):
    """to = '\\2' with one group: IndexError traceback from RE2's sub, not a RuleError."""
    rules = _rules(tmp_path, '[[rule]]\nmatch = "^(fc)/kernel$"\nto = "\\\\2/weights"\n')
    code = main(["convert", src, str(tmp_path / dst), "--rules", rules])
    assert code == 1 and "Traceback" not in capsys.readouterr().err


def test_deeply_nested_pattern_is_a_rule_error(src, tmp_path, capsys):
    """6,001 characters of nested groups (under MAX_PATTERN_CHARS) raise RecursionError."""
    pattern = "(" * 3000 + "a" + ")" * 3000
    rules = _rules(tmp_path, f'[[rule]]\nmatch = "{pattern}"\nto = "x"\n')
    assert main(["convert", src, str(tmp_path / "tf2"), "--rules", rules]) == 1


# -- hostile object graphs through the other verbs ---------------------------------------------


def _object_based(prefix: str, graph: bytes) -> str:
    key = "x/.ATTRIBUTES/VARIABLE_VALUE"
    with BundleWriter(prefix, fsync=False) as w:
        w.add(key, np.arange(3, dtype=np.float32))
        w.add(OBJECT_GRAPH_KEY, np.array(graph, dtype=object))
    return prefix


def _slot_graph(original: int, slot: int) -> bytes:
    g = TrackableObjectGraph()
    root, var = g.nodes.add(), g.nodes.add()
    root.children.add(node_id=1, local_name="x")
    var.attributes.add(name="VARIABLE_VALUE", full_name="x",
                       checkpoint_key="x/.ATTRIBUTES/VARIABLE_VALUE")  # fmt: skip
    root.slot_variables.add(original_variable_node_id=original, slot_variable_node_id=slot,
                            slot_name="m")  # fmt: skip
    return g.SerializeToString()


@pytest.mark.parametrize("original, slot", [(99, 1), (1, 2**31 - 1)], ids=["original", "slot"])
def test_to_safetensors_crafted_object_graph_is_typed(tmp_path, original, slot):
    """to_safetensors parses an unchecked object graph: IndexError instead of a typed error."""
    prefix = _object_based(str(tmp_path / "crafted"), _slot_graph(original, slot))
    with pytest.raises(CorruptCheckpointError) as exc:
        to_safetensors(prefix, str(tmp_path / "o.safetensors"))
    assert prefix in str(exc.value) and OBJECT_GRAPH_KEY in str(exc.value)


def test_inspect_garbage_object_graph_is_one_error_line(tmp_path, capsys):
    """inspect of a garbage _CHECKPOINTABLE_OBJECT_GRAPH: a protobuf DecodeError traceback."""
    prefix = _object_based(str(tmp_path / "garbage"), b"\xff\xff\xff\xff garbage")
    assert main(["inspect", prefix]) == 1
    assert OBJECT_GRAPH_KEY in capsys.readouterr().err


# -- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha, first", [(1.3, 40), (1.4, 48)])
def test_mobilenet_v2_depth_multiplier_is_read_right(tmp_path, alpha, first):
    """mobilenet_v2 alpha = first_conv/32 gives 1.25/1.5 for slim's 1.3/1.4 zoo checkpoints."""
    from converters.presets.registry import detect

    last = 1792 if alpha == 1.4 else 1664
    prefix = str(tmp_path / "mnv2.ckpt")
    with BundleWriter(prefix, fsync=False) as w:
        w.add("MobilenetV2/Conv/weights", np.zeros((3, 3, 3, first), np.float32))
        w.add("MobilenetV2/expanded_conv_16/project/weights", np.zeros((1, 1, 8, 8), np.float32))
        w.add("MobilenetV2/Conv_1/weights", np.zeros((1, 1, 8, last), np.float32))
        w.add("MobilenetV2/Logits/Conv2d_1c_1x1/weights", np.zeros((1, 1, last, 1001), np.float32))
        w.add("MobilenetV2/Logits/Conv2d_1c_1x1/biases", np.zeros((1001,), np.float32))
    with load_checkpoint(prefix) as reader:
        found = detect(reader)
    assert found.preset is not None and found.preset.name == "slim/mobilenet_v2"
    assert found.options["alpha"] == alpha


def test_inception_v3_aux_rules_map_the_reduced_kernel_conv():
    """aux_logits=True: the rule wants Conv2d_2a_5x5; slim names it Conv2d_2a_1x1 at 107x107."""
    from converters import presets
    from converters.rules import apply_rules

    rules = presets.get("slim/inception_v3").rules(aux_logits=True, input_shape=(107, 107, 3))
    name, _rule = apply_rules("InceptionV3/AuxLogits/Conv2d_2a_1x1/weights", list(rules))
    assert name == "aux_conv2/kernel"


@pytest.mark.slow
@pytest.mark.tf
def test_inception_v3_aux_logits_converts_at_the_documented_minimum(tmp_path):
    """End to end: tf-slim inception_v3 with AuxLogits at 107x107 (the documented minimum) fails."""
    import tensorflow as tf

    from converters import presets
    from tests.helpers.slim import build_and_save, import_tf_slim

    slim = import_tf_slim()
    from tf_slim.nets import inception_v3

    def net(x):
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            logits, _ = inception_v3.inception_v3(x, num_classes=1001, is_training=False,
                                                  create_aux_logits=True)  # fmt: skip
        return {"y": logits}

    run = build_and_save(tf, str(tmp_path / "m.ckpt"), net, (107, 107, 3))
    opts = {"input_shape": (107, 107, 3), "aux_logits": True, "classifier_activation": None}
    report = presets.convert(run.prefix, tmp_path / "m.weights.h5", preset="auto", options=opts,
                             dry_run=True)  # fmt: skip
    assert report.unmatched == ()


def test_bert_hf_preset_never_writes_names_hugging_face_ignores(tmp_path):
    """--preset bert-hf on a TF-Hub module/-scoped BERT succeeds with module.bert...layer_0 keys."""
    prefix = str(tmp_path / "hub.ckpt")
    write_checkpoint(prefix, bert_shapes(layers=1, hidden=8, root="module/"))
    out = str(tmp_path / "o.safetensors")
    try:
        to_safetensors(prefix, out, preset="bert-hf")
    except CheckpointError:
        return  # refusing is fine
    names = [t.name for t in read_header(out)[0]]
    strange = [n for n in names if not n.startswith(("bert.", "cls.")) or "layer_" in n]
    assert strange == []


# -- keras-hub preset directories ---------------------------------------------------------------


@pytest.fixture
def bert_src(tmp_path):
    prefix = str(tmp_path / "ckpt" / "bert_model.ckpt")
    os.makedirs(os.path.dirname(prefix))
    write_checkpoint(prefix, bert_shapes(hidden=64))
    return prefix


def test_preset_dir_overwrite_keeps_the_old_one_if_the_swap_fails(bert_src, tmp_path, monkeypatch):
    """_swap_into_place renames DST away first; if the second rename fails DST is gone."""
    from converters.outputs import keras_hub

    dst = str(tmp_path / "out")
    convert_text("bert", bert_src, dst)
    before = open(os.path.join(dst, "config.json")).read()
    real, calls = os.rename, []

    def failing(a, b):
        calls.append((a, b))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(keras_hub.os, "rename", failing)
    with pytest.raises(OSError):
        convert_text("bert", bert_src, dst, overwrite=True)
    monkeypatch.undo()
    assert os.path.isdir(dst), f"the old preset directory is gone; left: {os.listdir(tmp_path)}"
    assert open(os.path.join(dst, "config.json")).read() == before


def test_preset_dir_overwrite_never_deletes_a_strangers_subdirectory(bert_src, tmp_path):
    """The allowlist checks names only: a directory named config.json is rmtree'd with its files."""
    dst = tmp_path / "out"
    (dst / "config.json").mkdir(parents=True)
    (dst / "config.json" / "notes.txt").write_text("mine")
    try:
        convert_text("bert", bert_src, str(dst), overwrite=True)
    except CheckpointError:
        pass
    assert (dst / "config.json" / "notes.txt").exists() or any(
        (tmp_path / n / "config.json" / "notes.txt").exists() for n in os.listdir(tmp_path)
    ), "overwrite=True deleted a file this package did not write"


# -- safetensors overwrite -------------------------------------------------------------------


def _export_values(directory: str) -> dict[str, list[float]] | None:
    from safetensors.numpy import load_file

    index = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.exists(index):
        return None
    with open(index) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    out: dict[str, list[float]] = {}
    for name in files:
        out.update({k: v.tolist() for k, v in load_file(os.path.join(directory, name)).items()})
    return out


def test_failed_sharded_overwrite_keeps_the_earlier_export(tmp_path, monkeypatch):
    """commit() removes the old index before the new shards are renamed: a failure loses both."""
    from converters.safetensors import files as st_files

    def source(fill: float) -> str:
        prefix = str(tmp_path / f"src{fill}" / "m.ckpt")
        with BundleWriter(prefix, fsync=False) as w:
            for i in range(4):
                w.add(f"w{i}", np.full((8,), fill + i, np.float32))
        return prefix

    out = str(tmp_path / "out" / "model.safetensors")
    to_safetensors(source(1.0), out, shard_bytes=64, fsync=False)
    before = _export_values(str(tmp_path / "out"))
    assert before is not None
    real = os.replace

    def failing(a, b):
        if str(b).endswith(".safetensors"):
            raise OSError(5, "Input/output error")
        return real(a, b)

    monkeypatch.setattr(st_files.os, "replace", failing)
    with pytest.raises(OSError):
        to_safetensors(source(50.0), out, shard_bytes=64, overwrite=True, fsync=False)
    monkeypatch.undo()
    assert _export_values(str(tmp_path / "out")) == before


def test_verify_reports_a_source_tensor_the_conversion_lost(src, tmp_path, monkeypatch):
    """verify from the plan record never checks source coverage: a silently lost tensor passes."""
    import converters.api as api
    from converters.verify import verify

    real = api.plan_structural

    def losing(*args, **kwargs):  # a planner bug: one tensor neither converted nor dropped
        plan = real(*args, **kwargs)
        plan.actions[:] = [a for a in plan.actions if a.src != "fc/bias"]
        return plan

    monkeypatch.setattr(api, "plan_structural", losing)
    dst = str(tmp_path / "out" / "tf2")
    api.tf1_to_tf2(src, dst)
    monkeypatch.undo()
    report = verify(src, dst)
    assert not report.ok, report.summary()
