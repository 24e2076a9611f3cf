"""Content fingerprints of media files, cached in sqlite by file stat."""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vida_core.io import dataset
from vida_core.io.dataset import fingerprint_files

ROOT = Path(__file__).resolve().parents[1]


def blake(content: bytes) -> str:
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def write(path: Path, content: bytes, mtime_s: int = 1_600_000_000) -> Path:
    path.write_bytes(content)
    os.utime(path, (mtime_s, mtime_s))
    return path


@pytest.fixture
def hash_calls(monkeypatch):
    """The paths hash_file reads, in any order; and no "recently changed" window, so files
    the test has just written are cached at once."""
    calls = []
    real = dataset.hash_file

    def counting(path):
        calls.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(dataset, "hash_file", counting)
    monkeypatch.setattr(dataset, "_RACY_NS", 0)
    return calls


def test_fingerprint_is_the_content_hash_and_empty_for_what_cannot_be_read(tmp_path):
    clip = write(tmp_path / "a.mp4", b"\x00" * (3 << 20) + b"tail")  # more than one 1 MiB block
    (tmp_path / "folder.mp4").mkdir()
    paths = [clip, tmp_path / "missing.mp4", tmp_path / "folder.mp4"]
    assert fingerprint_files(paths, tmp_path / "cache.sqlite") == [blake(clip.read_bytes()), "", ""]
    assert fingerprint_files(paths, None) == [blake(clip.read_bytes()), "", ""]


def test_unchanged_files_are_not_read_again(tmp_path, hash_calls):
    paths = [write(tmp_path / f"{i}.mp4", bytes([i]) * 1000) for i in range(5)]
    first = fingerprint_files(paths, tmp_path / "cache.sqlite")
    assert sorted(hash_calls) == [p.name for p in paths]
    hash_calls.clear()
    assert fingerprint_files(paths, tmp_path / "cache.sqlite") == first
    assert hash_calls == []


def test_same_size_new_bytes_with_a_later_mtime_get_a_new_fingerprint(tmp_path, hash_calls):
    clip = write(tmp_path / "clip.mp4", b"old bytes")
    (before,) = fingerprint_files([clip], tmp_path / "cache.sqlite")
    write(clip, b"new bytes", mtime_s=1_600_000_001)
    assert fingerprint_files([clip], tmp_path / "cache.sqlite") == [blake(b"new bytes")] != [before]


def test_same_size_new_bytes_with_the_mtime_set_back_get_a_new_fingerprint(tmp_path, hash_calls):
    clip = write(tmp_path / "clip.mp4", b"old bytes")
    fingerprint_files([clip], tmp_path / "cache.sqlite")
    time.sleep(0.05)  # past the file system's timestamp tick: ctime moves on the rewrite
    write(clip, b"new bytes")  # size and mtime as before (touch -r, tar): ctime tells
    assert fingerprint_files([clip], tmp_path / "cache.sqlite") == [blake(b"new bytes")]


def test_a_file_changed_just_now_is_hashed_again_next_time(tmp_path, monkeypatch):
    calls = []
    real = dataset.hash_file
    monkeypatch.setattr(dataset, "hash_file", lambda path: calls.append(path) or real(path))
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"being written")  # could change again within its timestamp tick
    fingerprint_files([clip], tmp_path / "cache.sqlite")
    fingerprint_files([clip], tmp_path / "cache.sqlite")
    assert len(calls) == 2


def test_cache_survives_the_process_and_losing_it_changes_no_fingerprint(tmp_path, hash_calls):
    paths = [write(tmp_path / f"{i}.mp4", os.urandom(3000)) for i in range(3)]
    cache = tmp_path / "state" / "fingerprints.sqlite"
    first = fingerprint_files(paths, cache)
    # A new process whose hash_file fails: every fingerprint must come from the cache file.
    script = ("import sys; from vida_core.io import dataset\n"
              "def refuse(path): raise AssertionError(f'read {path}')\n"
              "dataset.hash_file = refuse\n"
              "print(' '.join(dataset.fingerprint_files(sys.argv[2:], sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", script, str(cache), *map(str, paths)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == first

    cache.unlink()
    hash_calls.clear()
    assert fingerprint_files(paths, cache) == first == [blake(p.read_bytes()) for p in paths]
    assert len(hash_calls) == 3
