"""The ``checkpoint`` state file: codec, path rules, fallbacks, writing.

The checkpoint-file helpers are in ``test_checkpoint_files.py``; TensorFlow both ways and
real files in ``test_state_tf.py``."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from legacy_saver.bundle import state as st_mod
from legacy_saver.bundle.protos import CheckpointState
from legacy_saver.errors import CheckpointNotFoundError, StateFileError
from legacy_saver.state import (
    StateFileWarning,
    decode_state,
    encode_state,
    get_checkpoint_state,
    latest_checkpoint,
    read_state,
    remove_checkpoint,
    update_checkpoint_state,
)

# A warning nobody asked for is a bug: every expected one is caught with pytest.warns.
pytestmark = pytest.mark.filterwarnings("error::legacy_saver.state.StateFileWarning")


from tests.helpers.fake_files import fake_v2 as _v2  # noqa: E402


def _fields(s) -> tuple:
    """The content of a CheckpointState, ours or TensorFlow's, comparable."""
    return (
        s.model_checkpoint_path,
        list(s.all_model_checkpoint_paths),
        list(s.all_model_checkpoint_timestamps),
        s.last_preserved_timestamp,
    )


# --- the codec ----------------------------------------------------------------------------


def test_encode_is_tensorflows_text_golden():
    s = CheckpointState(
        model_checkpoint_path="model.ckpt-2",
        all_model_checkpoint_paths=["model.ckpt-1", "model.ckpt-2"],
        all_model_checkpoint_timestamps=[1700000000.25, 1700000100.5],
        last_preserved_timestamp=1699999999.0,
    )
    assert encode_state(s) == (
        b'model_checkpoint_path: "model.ckpt-2"\n'
        b'all_model_checkpoint_paths: "model.ckpt-1"\n'
        b'all_model_checkpoint_paths: "model.ckpt-2"\n'
        b"all_model_checkpoint_timestamps: 1700000000.25\n"
        b"all_model_checkpoint_timestamps: 1700000100.5\n"
        b"last_preserved_timestamp: 1699999999.0\n"
    )


_PATH = st.text(min_size=1, max_size=30).filter(lambda p: "\0" not in p)


@st.composite
def _states(draw):
    paths = draw(st.lists(_PATH, max_size=5))
    times = st.floats(allow_nan=False, width=64)
    one_per_path = st.lists(times, min_size=len(paths), max_size=len(paths))
    return CheckpointState(
        model_checkpoint_path=draw(_PATH),
        all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=draw(st.just([]) | one_per_path),
        last_preserved_timestamp=draw(times),
    )


@settings(max_examples=100, deadline=None)
@given(_states())
def test_decode_inverts_encode(s):
    assert _fields(decode_state(encode_state(s))) == _fields(s)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_decode_of_anything_is_a_state_or_state_file_error(data):
    try:
        s = decode_state(data, "/x/checkpoint")
    except StateFileError as e:
        assert str(e).startswith("/x/checkpoint")
    else:
        assert _fields(decode_state(encode_state(s))) == _fields(s)


_GOOD = b'model_checkpoint_path: "m-2"\nall_model_checkpoint_paths: "m-1"\n'
_DUP_TIME = b"last_preserved_timestamp: 1\nlast_preserved_timestamp: 2\n"
_TWO_TIMES = b"all_model_checkpoint_timestamps: [5, 6]\n"
CORRUPT = {  # name: (file content, what the message must say)
    "empty": (b"", "is empty"),
    "blank": (b" \n\t\n", "is empty"),
    "not utf-8": (
        b'model_checkpoint_path: "caf\xe9"\n',
        "is not UTF-8 text: byte 0xe9 at offset 27",
    ),
    "garbage": (b"\x00\x01\x02 PK\x03\x04 garbage\n", "is not a valid CheckpointState"),
    "binary proto": (
        CheckpointState(model_checkpoint_path="m-1").SerializeToString(),
        "not a valid",
    ),
    "duplicated path": (
        _GOOD + b'model_checkpoint_path: "b"\n',
        'multiple "model_checkpoint_path"',
    ),
    "duplicated double": (_GOOD + _DUP_TIME, 'multiple "last_preserved_timestamp"'),
    "unknown field": (_GOOD + b'model_path: "x"\n', 'no field named "model_path"'),
    "wrong type": (b"model_checkpoint_path: 12\n", "is not a valid CheckpointState"),
    "empty latest": (b'model_checkpoint_path: ""\n', "model_checkpoint_path is empty or missing"),
    "no latest": (
        b'all_model_checkpoint_paths: "m"\n',
        "model_checkpoint_path is empty or missing",
    ),
    "empty entry": (_GOOD + b'all_model_checkpoint_paths: ""\n', "paths[1] is empty"),
    "NUL in path": (b'model_checkpoint_path: "a\\000b"\n', "model_checkpoint_path contains a NUL"),
    "timestamps": (_GOOD + _TWO_TIMES, "2 all_model_checkpoint_timestamps for 1 all_model_"),
    "cut number": (_GOOD + b"last_preserved_timestamp: 17", "looks truncated"),
}


@pytest.mark.parametrize("data, message", CORRUPT.values(), ids=CORRUPT.keys())
def test_corrupt_state_file_raises_naming_the_file(tmp_path, data, message):
    (tmp_path / "checkpoint").write_bytes(data)
    for read in (get_checkpoint_state, latest_checkpoint, read_state):
        with pytest.raises(StateFileError) as e:
            read(tmp_path)
        assert str(e.value).startswith(str(tmp_path / "checkpoint"))
        assert message in str(e.value)


@pytest.mark.tf
@pytest.mark.parametrize("case", ["garbage", "duplicated path", "unknown field", "not utf-8"])
def test_tensorflow_misreads_what_we_refuse(tf, tmp_path, case):
    """The trap: a corrupt file means 'no checkpoint' (training restarts), a guess, or a crash."""
    (tmp_path / "checkpoint").write_bytes(CORRUPT[case][0])
    _v2(tmp_path / "b")
    try:
        answer = tf.train.latest_checkpoint(str(tmp_path))
    except UnicodeDecodeError as e:
        answer = type(e).__name__
    expected = {"duplicated path": str(tmp_path / "b"), "not utf-8": "UnicodeDecodeError"}
    assert answer == expected.get(case)
    with pytest.raises(StateFileError):
        latest_checkpoint(tmp_path)


def test_truncation_at_every_byte_is_an_error_or_a_prefix_of_whole_lines(tmp_path):
    paths = [_v2(tmp_path / f"model.ckpt-{i}") for i in (1, 2, 3)]
    update_checkpoint_state(tmp_path, paths[-1], paths, None, [1.5e9, 1.6e9, 1.7e9], 1.25e9)
    data = (tmp_path / "checkpoint").read_bytes()
    full = _fields(decode_state(data))
    accepted = 0
    for n in range(len(data)):
        try:
            got = _fields(decode_state(data[:n], "/run/checkpoint"))
        except StateFileError as e:
            assert str(e).startswith("/run/checkpoint"), n
            continue
        accepted += 1
        assert data[:n].endswith((b"\n", b'"')), n  # never a value cut short
        assert got[0] == full[0]
        for field in (1, 2):
            assert got[field] == full[field][: len(got[field])], n
    assert accepted == 9  # after each path line's quote and newline, and the 3rd timestamp


def test_oversized_state_file_is_refused(tmp_path):
    with open(tmp_path / "checkpoint", "wb") as f:
        f.truncate(st_mod.MAX_STATE_FILE_BYTES + 1)  # sparse: cheap
    with pytest.raises(StateFileError, match="is larger than"):
        get_checkpoint_state(tmp_path)


def test_unreadable_state_file(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(StateFileError, match=r"checkpoint cannot be read"):
        latest_checkpoint(tmp_path)


def test_no_state_file_is_none_as_tensorflow(tmp_path):
    (tmp_path / "file").write_text("x")
    for d in (tmp_path, tmp_path / "missing", tmp_path / "file"):
        assert get_checkpoint_state(d) is None
        assert latest_checkpoint(d) is None
        assert read_state(d) is None


# --- reading: paths -----------------------------------------------------------------------


def test_relative_paths_are_joined_to_the_directory(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    _v2(tmp_path / "run" / "m-2")
    (tmp_path / "run" / "checkpoint").write_text(
        'model_checkpoint_path: "m-2"\nall_model_checkpoint_paths: "m-1"\n'
        'all_model_checkpoint_paths: "sub/../m-2"\n'
    )
    s = get_checkpoint_state(tmp_path / "run")
    assert s.model_checkpoint_path == str(tmp_path / "run" / "m-2")
    assert list(s.all_model_checkpoint_paths) == [
        str(tmp_path / "run" / "m-1"),
        str(tmp_path / "run" / "sub/../m-2"),
    ]
    monkeypatch.chdir(tmp_path)
    assert latest_checkpoint("run") == os.path.join("run", "m-2")
    r = read_state("run")
    assert r == st_mod.State(
        path=str(tmp_path / "run" / "checkpoint"),
        model_checkpoint_path=str(tmp_path / "run" / "m-2"),
        all_model_checkpoint_paths=(str(tmp_path / "run" / "m-1"), str(tmp_path / "run" / "m-2")),
        all_model_checkpoint_timestamps=(),
        last_preserved_timestamp=0.0,
    )


@pytest.mark.parametrize("bad", ["../elsewhere/m-1", "sub/../../m-1", "{other}/m-1"])
def test_paths_outside_the_directory_are_refused_unless_allowed(tmp_path, bad):
    run, other = tmp_path / "run", tmp_path / "other"
    run.mkdir()
    other.mkdir()
    _v2(other / "m-1")  # it exists: no moved-directory fallback applies
    bad = bad.format(other=other)
    (run / "checkpoint").write_text(f'model_checkpoint_path: "{bad}"\n')
    with pytest.raises(StateFileError) as e:
        latest_checkpoint(run)
    assert str(e.value).startswith(str(run / "checkpoint"))
    assert repr(bad) in str(e.value) and "allow_outside=True" in str(e.value)
    expected = bad if os.path.isabs(bad) else str(run / bad)
    assert get_checkpoint_state(run, allow_outside=True).model_checkpoint_path == expected


def test_symlinked_directory_is_inside(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    update_checkpoint_state(real, _v2(real / "m-1"))  # absolute paths through the real name
    (tmp_path / "link").symlink_to(real)
    assert latest_checkpoint(tmp_path / "link") == str(real / "m-1")


def test_moved_directory_uses_same_names_with_a_warning(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    paths = [_v2(old / "m-1"), _v2(old / "m-2", shards=2)]
    update_checkpoint_state(old, paths[-1], paths)  # absolute, as TF1's Saver writes
    old.rename(new)
    with pytest.warns(StateFileWarning, match=r"does not exist; using .*m-2.* \(and 2 more\)"):
        s = get_checkpoint_state(new)
    assert _fields(s)[:2] == (str(new / "m-2"), [str(new / "m-1"), str(new / "m-2")])
    with pytest.warns(StateFileWarning, match="was the directory moved"):
        assert latest_checkpoint(new) == str(new / "m-2")


def test_moved_directory_without_the_files_is_refused(tmp_path):
    (tmp_path / "checkpoint").write_text(f'model_checkpoint_path: "{tmp_path}x/m-1"\n')
    with pytest.raises(StateFileError, match="outside"):
        latest_checkpoint(tmp_path)


# --- latest_checkpoint fallbacks ------------------------------------------------------------


def test_missing_latest_falls_back_to_newest_existing_with_warning(tmp_path):
    paths = [_v2(tmp_path / f"m-{i}") for i in (1, 2, 3)]
    update_checkpoint_state(tmp_path, paths[-1], paths)
    remove_checkpoint(paths[2])
    with pytest.warns(StateFileWarning, match=r"m-3.* has no files; using .*m-2'"):
        assert latest_checkpoint(tmp_path) == paths[1]
    remove_checkpoint(paths[1])
    with pytest.warns(StateFileWarning, match="m-1"):
        assert latest_checkpoint(tmp_path) == paths[0]
    remove_checkpoint(paths[0])
    with pytest.raises(CheckpointNotFoundError) as e:
        latest_checkpoint(tmp_path)
    assert isinstance(e.value, FileNotFoundError)
    assert str(e.value).startswith(str(tmp_path / "checkpoint"))
    assert f"names {paths[2]!r} as the latest" in str(e.value)
    assert "nor do the 2 other checkpoints" in str(e.value)


def test_latest_missing_from_the_list_is_accepted_as_written(tmp_path):
    _v2(tmp_path / "m-9")
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "m-9"\nall_model_checkpoint_paths: "m-1"\n'
    )
    assert list(get_checkpoint_state(tmp_path).all_model_checkpoint_paths) == [
        str(tmp_path / "m-1")
    ]
    assert latest_checkpoint(tmp_path) == str(tmp_path / "m-9")


def test_state_file_is_never_a_v1_checkpoint(tmp_path):
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "checkpoint"\n')
    with pytest.raises(CheckpointNotFoundError, match=r"has no files \(no .*checkpoint\.index"):
        latest_checkpoint(tmp_path)
    _v2(tmp_path / "checkpoint")  # a V2 prefix named like the state file is fine
    assert latest_checkpoint(tmp_path) == str(tmp_path / "checkpoint")


def test_custom_latest_filename(tmp_path):
    update_checkpoint_state(tmp_path, _v2(tmp_path / "m-1"), latest_filename="best")
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path, "best") == str(tmp_path / "m-1")


# --- writing --------------------------------------------------------------------------------


def test_round_trip_and_tensorflows_list_rules(tmp_path):
    given_paths = [tmp_path / "m-1", tmp_path / "m-2"]  # PathLike; the latest is not last
    update_checkpoint_state(tmp_path, tmp_path / "m-3", given_paths, None, [1.0, 2.0, 3.0], 0.5)
    assert given_paths == [tmp_path / "m-1", tmp_path / "m-2"]  # TF appends to the caller's
    assert _fields(get_checkpoint_state(tmp_path)) == (
        str(tmp_path / "m-3"),
        [str(tmp_path / f"m-{i}") for i in (1, 2, 3)],
        [1.0, 2.0, 3.0],
        0.5,
    )


def test_timestamps_must_be_one_per_path(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint: 1 timestamps for 2 checkpoint paths"):
        update_checkpoint_state(tmp_path, "m-2", ["m-1"], all_model_checkpoint_timestamps=[1.0])
    assert not (tmp_path / "checkpoint").exists()


def test_latest_may_not_be_the_state_file(tmp_path):
    with pytest.raises(StateFileError, match="is the state file"):
        update_checkpoint_state(tmp_path, tmp_path / "checkpoint")
    update_checkpoint_state(tmp_path, "checkpoint", save_relative_paths=True)  # TF allows it


def test_save_relative_paths(tmp_path):
    out = tmp_path.parent / f"{tmp_path.name}-other"
    update_checkpoint_state(
        tmp_path, tmp_path / "m-2", [out / "m-0", tmp_path / "m-1"],
        save_relative_paths=True, allow_outside=True,
    )  # fmt: skip
    assert (tmp_path / "checkpoint").read_text() == (
        'model_checkpoint_path: "m-2"\n'
        f'all_model_checkpoint_paths: "{out}/m-0"\n'  # outside: stays absolute
        'all_model_checkpoint_paths: "m-1"\n'
        'all_model_checkpoint_paths: "m-2"\n'
    )


def test_writing_outside_paths_needs_allow_outside(tmp_path, monkeypatch):
    with pytest.raises(StateFileError, match=r"is outside .*allow_outside=True"):
        update_checkpoint_state(tmp_path, "/elsewhere/m-1")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    with pytest.raises(StateFileError, match="'m-1' is outside 'run'"):
        update_checkpoint_state("run", "m-1")  # cwd-relative, as TF reads it: ../m-1
    update_checkpoint_state("run", "run/m-1")
    assert (tmp_path / "run" / "checkpoint").read_text().startswith('model_checkpoint_path: "m-1"')


def test_write_is_atomic_and_fsynced(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    update_checkpoint_state(tmp_path, tmp_path / "m-2")
    assert len(synced) == 2  # the file, then the directory
    update_checkpoint_state(tmp_path, tmp_path / "m-3", fsync=False)
    assert len(synced) == 2
    before = (tmp_path / "checkpoint").read_bytes()

    def crash(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        update_checkpoint_state(tmp_path, tmp_path / "m-4")
    assert os.listdir(tmp_path) == ["checkpoint"]  # the temporary file is gone
    assert (tmp_path / "checkpoint").read_bytes() == before


def test_dotdot_through_a_symlink_is_resolved_as_the_os_does(tmp_path):
    """``link/../m-1`` looks inside as a string, but the OS resolves ``link`` first: with
    ``link`` -> ``elsewhere/deep``, it names ``elsewhere/m-1``, outside (rule 3)."""
    run, deep = tmp_path / "run", tmp_path / "elsewhere" / "deep"
    run.mkdir()
    deep.mkdir(parents=True)
    _v2(tmp_path / "elsewhere" / "m-1")
    (run / "link").symlink_to(deep)
    (run / "checkpoint").write_text('model_checkpoint_path: "link/../m-1"\n')
    with pytest.raises(StateFileError, match="outside"):
        latest_checkpoint(run)
    with pytest.raises(StateFileError, match="outside"):
        update_checkpoint_state(run, str(run / "link" / ".." / "m-1"))
    (run / "checkpoint").write_text('model_checkpoint_path: "sub/../m-2"\n')
    (run / "sub").mkdir()
    _v2(run / "m-2")
    assert latest_checkpoint(run) == str(run / "sub/../m-2")  # a real ``..``, inside


@pytest.mark.parametrize("name", ["*", "m-?", "[1]", "a\nb", "  spaced  ", "é"])
def test_entries_are_names_never_patterns(tmp_path, name):
    _v2(tmp_path / "m-1")  # what a glob of most of these would find
    update_checkpoint_state(tmp_path, str(tmp_path / name))
    assert get_checkpoint_state(tmp_path).model_checkpoint_path == str(tmp_path / name)
    with pytest.raises(CheckpointNotFoundError):
        latest_checkpoint(tmp_path)  # no file of that very name: never m-1
    _v2(tmp_path / name)
    assert latest_checkpoint(tmp_path) == str(tmp_path / name)
