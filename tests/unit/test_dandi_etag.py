"""The DANDI etag (multipart md5) on answers worked out by hand, and the part layout of the real NLB assets."""

from __future__ import annotations

import hashlib
import math
import os

import pytest

from neurodyn.data.download import MIB, dandi_etag_hasher, etag_parts, file_digests


def _by_hand(data: bytes, part: int) -> str:
    """md5 over the concatenated binary md5 of each part, then "-<number of parts>" (docs/data.md §5)."""
    pieces = [data[i:i + part] for i in range(0, len(data), part)]
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in pieces)).hexdigest() + f"-{len(pieces)}"


def test_single_part_small_file(tmp_path):
    data = os.urandom(123_457)
    path = tmp_path / "small.bin"
    path.write_bytes(data)
    # one part of the file's own size: md5 of the md5, not the plain md5
    expected = hashlib.md5(hashlib.md5(data).digest()).hexdigest() + "-1"
    assert file_digests(path)["etag"] == expected
    assert expected != hashlib.md5(data).hexdigest() + "-1"


def test_two_parts_fed_in_chunks_that_straddle_the_part_boundary(tmp_path):
    data = os.urandom(64 * MIB + 1_000)
    expected = _by_hand(data, 64 * MIB)
    assert expected.endswith("-2")
    hasher = dandi_etag_hasher(len(data))
    step = 7_777_777  # not a divisor of 64 MiB: one chunk spans both parts
    for i in range(0, len(data), step):
        hasher.update(data[i:i + step])
    assert hasher.hexdigest() == expected
    path = tmp_path / "two.bin"
    path.write_bytes(data)
    assert file_digests(path, block=3 * MIB + 5)["etag"] == expected


@pytest.mark.parametrize(
    ("size", "parts"),
    [
        (689_312, 1),            # MC_Maze_Small test   5a38a16b...-1
        (29_207_528, 1),         # MC_Maze_Small train  142f6daa...-1
        (76_604_764, 2),         # MC_Maze_Medium train 9e9c7817...-2
        (148_590_536, 3),        # MC_Maze_Large train  c25a5938...-3
        (690_612_247, 11),       # MC_Maze train        8b72e82a...-11
        (1_822_876_234, 28),     # Area2_Bump train     513dc98a...-28
        (7_375_599_469, 110),    # 000070 Nitschke 2009-08-12  c79a343f...-110
        (64 * MIB, 1),           # exactly one default part
        (64 * MIB + 1, 2),
    ],
)
def test_part_counts_match_the_archive(size, parts):
    n, part_size = etag_parts(size)
    assert n == parts
    assert part_size == (size if parts == 1 else 64 * MIB)


def test_more_than_ten_thousand_default_parts_grow_the_part_size():
    size = 10_000 * 64 * MIB + 12_345  # 64 MiB parts would need 10,001 parts
    n, part_size = etag_parts(size)
    assert part_size == math.ceil(size / 10_000)
    assert n == math.ceil(size / part_size) <= 10_000


@pytest.mark.shared_data
def test_real_asset_etag(shared_data):
    nwb = shared_data / "nlb-mc-maze-small-test" / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"
    got = file_digests(nwb)
    assert got == {
        "size": 689_312,
        "sha256": "ca8a0bef5f189eafb9db1961d617e065cb461360718fde1c16a538922a6fa5fe",
        "etag": "5a38a16b91d0fd1e71fd41dc03fbe372-1",
    }
