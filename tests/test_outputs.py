"""The pieces under the bulk pipeline's output: spool files, the synced file sink, chunk reading.

The bulk tests prove the whole (the same bytes with one and two jobs, nothing left behind);
these pin down each piece where it could go wrong on its own: a spool file appended between
buffered writes, a destination the kernel cannot copy into, a background sync racing the
writes, a block whose file changed before the worker read it, a file cut into blocks giving
the very pieces (and line numbers) it gives read in one go.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirconv import bulk
from fhirconv.ndjson import block_lines, open_binary, read_chunks, split_lines
from fhirconv.records import Work
from fhirconv.outputs import FileSink, SpoolFile, write_output


def test_a_spool_file_lands_between_the_buffered_writes_around_it(tmp_path):
    sink = FileSink(tmp_path / "out.ndjson")
    sink.write(b"first\n")                                  # still in the sink's buffer
    sink.write(SpoolFile.create(str(tmp_path), b"spooled\n" * 1000))
    sink.write(b"last\n")
    sink.commit()
    assert (tmp_path / "out.ndjson").read_bytes() == b"first\n" + b"spooled\n" * 1000 + b"last\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ndjson"]    # spool file deleted


def test_a_destination_without_a_file_descriptor_gets_the_bytes_through_user_space(tmp_path):
    out = io.BytesIO(b"")
    out.write(b"head ")
    size = write_output(out, SpoolFile.create(str(tmp_path), b"body"))
    assert (out.getvalue(), size) == (b"head body", 4)
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=25, deadline=None)
@given(pieces=st.lists(st.one_of(st.binary(max_size=3000).map(lambda b: ("bytes", b)),
                                 st.binary(min_size=1, max_size=3000).map(lambda b: ("spool", b))),
                       max_size=30))
def test_any_mix_of_bytes_and_spool_files_with_background_syncs_keeps_every_byte_in_order(pieces, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sink")
    sink = FileSink(folder / "out.bin")
    sink.SYNC_EVERY = 4096                                 # a background sync every few pieces
    for kind, data in pieces:
        sink.write(SpoolFile.create(str(folder), data) if kind == "spool" else data)
    sink.commit()
    assert (folder / "out.bin").read_bytes() == b"".join(data for _, data in pieces)


def test_an_aborted_sink_leaves_nothing_even_while_a_sync_runs(tmp_path):
    sink = FileSink(tmp_path / "out.bin")
    sink.SYNC_EVERY = 1
    sink.write(b"x" * 100_000)
    assert sink.syncing is not None
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_block_whose_file_shrank_before_the_worker_read_it_is_an_error(tmp_path):
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"{}\n" * 10)
    with open(path, "rb") as file:
        # the block's lines: from the start of the line holding its first byte to its last newline
        assert block_lines(file, 4, 10) == b"{}\n{}\n"
    path.write_bytes(b"{}\n")
    with open(path, "rb") as file, pytest.raises(OSError, match="changed while it was being read"):
        block_lines(file, 4, 10)


def test_a_worker_whose_block_changed_under_it_names_the_block_and_counts_nothing(tmp_path, monkeypatch):
    path = tmp_path / "in.ndjson"
    path.write_bytes(b'{"resourceType":"Basic"}\n' * 10)
    monkeypatch.setattr(bulk, "_WORK", Work("convert", "R4"))
    task = bulk.Task(0, "in.ndjson", "lines", "xml", path=str(path), block=(50, 100, False))
    whole = bulk.run_task(task)
    assert whole.failure is None and whole.first_line == 1              # numbered from 1: the main shifts
    assert (whole.read, whole.written, whole.newlines) == (2, 2, 2)     # the lines ending in bytes 50..99
    path.write_bytes(b"{}\n")
    cut = bulk.run_task(task)
    assert cut.failure.startswith("in.ndjson: cannot read on from byte 50: the file changed")
    assert (cut.read, cut.written, cut.rejected) == (0, 0, 0)


@pytest.mark.parametrize("packed", [False, True])
def test_a_file_is_read_directly_and_its_chunks_are_its_bytes_in_order(tmp_path, packed):
    data = b"".join(b'{"n":%d}\n' % n for n in range(5000))
    path = tmp_path / "in.ndjson"
    path.write_bytes(gzip.compress(data) if packed else data)
    with open(path, "rb") as raw:
        stream = open_binary(raw)
        # a plain file is read as it is, so positions in the stream are positions in the file
        assert (stream is raw) is not packed
        chunks = list(read_chunks(stream, 4096))
    assert b"".join(chunk for _, chunk, _ in chunks) == data
    assert [first for first, _, _ in chunks] == \
           [1 + sum(chunk.count(b"\n") for _, chunk, _ in chunks[:i]) for i in range(len(chunks))]
    assert all(newlines == chunk.count(b"\n") for _, chunk, newlines in chunks)


LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\n\n"])


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, 40), LINE_ENDS), max_size=40),
       tail=st.integers(0, 30), block=st.sampled_from([1, 2, 3, 8, 16, 64, 4096]),
       long_line=st.sampled_from([0, 20_000, 70_000]))
def test_blocks_cut_on_their_own_are_the_pieces_read_chunks_cuts(lines, tail, block, long_line, tmp_path_factory):
    # One job reads a file with read_chunks; workers each cut their own block (block_lines) and
    # number its lines from 1, shifted by the newlines of the pieces before. The pieces must be
    # the same bytes, so gzip members (one per piece) and line numbers do not depend on --jobs.
    # (long_line: a line longer than block_lines' first look back, in the middle of the file.)
    middle = len(lines) // 2
    data = (b"".join(b"x" * size + end for size, end in lines[:middle]) + b"z" * long_line + b"\n"
            + b"".join(b"x" * size + end for size, end in lines[middle:]) + b"y" * tail)
    path = tmp_path_factory.mktemp("blocks") / "in.ndjson"
    path.write_bytes(data)
    with open(path, "rb") as raw:
        chunks = list(read_chunks(open_binary(raw), block))
    with open(path, "rb") as file:
        pieces = [block_lines(file, start, min(start + block, len(data))) for start in range(0, len(data), block)]
        if data and not data.endswith(b"\n"):
            pieces.append(block_lines(file, len(data), len(data), to_end=True))
    pieces = [piece for piece in pieces if piece]
    assert pieces == [chunk for _, chunk, _ in chunks]
    next_line = 1
    for piece, (first, chunk, newlines) in zip(pieces, chunks):
        shifted, piece_newlines = split_lines(piece, 1)
        assert piece_newlines == newlines == chunk.count(b"\n")
        assert [(line + next_line - 1, record) for line, record in shifted] == split_lines(chunk, first)[0]
        assert first == next_line
        next_line += piece_newlines


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), LINE_ENDS),
                      max_size=30),
       tail=st.binary(max_size=8).map(lambda b: b.replace(b"\n", b"")), first=st.integers(1, 10**6))
def test_split_lines_numbers_every_line_and_keeps_the_non_blank_ones(lines, tail, first):
    chunk = b"".join(text + end for text, end in lines) + tail
    records, newlines = split_lines(chunk, first)
    assert newlines == chunk.count(b"\n")
    expected = [(number, raw.rstrip(b"\r")) for number, raw in enumerate(chunk.split(b"\n"), first)
                if raw.rstrip(b"\r").strip()]
    assert records == expected


def test_a_pipe_is_sniffed_without_losing_its_first_bytes():
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"a":1}\n{"b":2}\n')
    os.close(write_end)
    with open(read_end, "rb") as raw:
        stream = open_binary(raw)
        assert stream is not raw
        assert stream.read() == b'{"a":1}\n{"b":2}\n'
