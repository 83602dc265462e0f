"""The pieces under the bulk pipeline's output: spool files, the synced file sink, chunk reading.

The bulk tests prove the whole (the same bytes with one and two jobs, nothing left behind);
these pin down each piece where it could go wrong on its own: a spool file appended between
buffered writes, a destination the kernel cannot copy into, a background sync racing the
writes, a chunk whose file changed before the worker read it, the line ends found without
the bytes being kept.
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
from fhirconv.ndjson import line_spans, open_binary, read_chunks
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


def test_a_chunk_whose_file_shrank_before_the_worker_read_it_is_an_error(tmp_path):
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"{}\n" * 10)
    assert bulk._read_span(str(path), 3, 6) == b"{}\n{}\n"
    path.write_bytes(b"{}\n")
    with pytest.raises(OSError, match="changed while it was being read"):
        bulk._read_span(str(path), 3, 6)


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


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, 40), st.sampled_from([b"\n", b"\r\n", b"\n\n"])), max_size=40),
       tail=st.integers(0, 30), block=st.sampled_from([1, 2, 3, 8, 16, 64, 4096]))
def test_line_spans_are_the_pieces_read_chunks_cuts(lines, tail, block, tmp_path_factory):
    # Two jobs find line ends with line_spans, one job reads with read_chunks: the same pieces,
    # so gzip members (one per piece) and line numbers are the same whatever the number of jobs.
    data = b"".join(b"x" * size + end for size, end in lines) + b"y" * tail
    path = tmp_path_factory.mktemp("spans") / "in.ndjson"
    path.write_bytes(data)
    with open(path, "rb") as raw:
        spans = list(line_spans(open_binary(raw), block))
    with open(path, "rb") as raw:
        chunks = list(read_chunks(open_binary(raw), block))
    assert [(first, data[offset:offset + length], newlines) for first, offset, length, newlines in spans] == chunks
    assert all(newlines == chunk.count(b"\n") for _, chunk, newlines in chunks)


def test_a_pipe_is_sniffed_without_losing_its_first_bytes():
    read_end, write_end = os.pipe()
    os.write(write_end, b'{"a":1}\n{"b":2}\n')
    os.close(write_end)
    with open(read_end, "rb") as raw:
        stream = open_binary(raw)
        assert stream is not raw
        assert stream.read() == b'{"a":1}\n{"b":2}\n'
