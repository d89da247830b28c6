"""A report's members kept compact in memory: compressed blocks, a member decoded when read.

Decoded, 50,000 members take about 56 MB of Python objects; a process that keeps the recent
reports of five periods at hand would hold a quarter of a gigabyte of them (issue 9 measured
``serve`` at 730 MB). ``PackedUsers`` keeps each member as MessagePack, 256 members to a
zlib-compressed block (about 3 MB for 50,000), and decodes a member when an answer reads it: one
member costs one block's decompression (a fraction of a millisecond). Answers read members
through a report's index (``bot.reports.index``), which keeps what it derives from a whole pass,
so whole passes happen once per report.
"""

from __future__ import annotations

import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

import msgspec

from bot.browserstack.models import Report, ReportFilters, ReportKind, TeamRecord, UserRecord

__all__ = ["PackedUsers", "dump_report", "load_report"]

# Members per block: small enough that reading one member decompresses little, large enough
# for zlib to find the repetition between members (field names, domains, team names).
_BLOCK = 256
# zlib's fastest level: packing runs when a report lands, and level 6 saves little more here.
_LEVEL = 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(UserRecord)
S = TypeVar("S", bound=msgspec.Struct)
_shape_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}


class PackedUsers(Sequence[UserRecord]):
    """Members in compressed blocks; indexing and iteration decode them as they are read."""

    def __init__(self, users: Iterable[UserRecord]) -> None:
        self._blocks: list[bytes] = []
        # Where each member starts in its block's decompressed bytes, block after block; the
        # end of the last member of a block is the block's length.
        self._starts = array("I")
        self._count = 0
        chunk: list[bytes] = []
        for user in users:
            chunk.append(_encoder.encode(user))
            if len(chunk) == _BLOCK:
                self._add(chunk)
                chunk = []
        if chunk:
            self._add(chunk)
        # The last block read, decompressed: members are mostly read in runs.
        self._recent: tuple[int, bytes] | None = None
        self._lock = threading.Lock()

    def _add(self, chunk: list[bytes]) -> None:
        offset = 0
        for encoded in chunk:
            self._starts.append(offset)
            offset += len(encoded)
        self._blocks.append(zlib.compress(b"".join(chunk), _LEVEL))
        self._count += len(chunk)

    @property
    def packed_bytes(self) -> int:
        """The compressed size of the members, for the benchmarks and the logs."""
        return sum(map(len, self._blocks)) + self._starts.itemsize * len(self._starts)

    def __len__(self) -> int:
        return self._count

    def _block(self, number: int) -> bytes:
        with self._lock:
            recent = self._recent
        if recent is not None and recent[0] == number:
            return recent[1]
        raw = zlib.decompress(self._blocks[number])
        with self._lock:
            self._recent = (number, raw)
        return raw

    def _member(self, raw: memoryview, position: int) -> memoryview:
        """The member at ``position``'s bytes in its block's decompressed ``raw``."""
        start = self._starts[position]
        last_in_block = position % _BLOCK == _BLOCK - 1 or position == self._count - 1
        return raw[start:] if last_in_block else raw[start : self._starts[position + 1]]

    @overload
    def __getitem__(self, index: int) -> UserRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[UserRecord]: ...

    def __getitem__(self, index: int | slice) -> UserRecord | list[UserRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("member index out of range")
        return _decoder.decode(self._member(memoryview(self._block(index // _BLOCK)), index))

    def __iter__(self) -> Iterator[UserRecord]:
        return self._walk(_decoder)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PackedUsers):
            return (self._count, self._starts, self._blocks) == (
                other._count,
                other._starts,
                other._blocks,
            )
        if isinstance(other, list):  # as the members decoded from JSON would compare
            return len(other) == self._count and all(
                a == b for a, b in zip(self, other, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # unhashable, as the list it stands for

    def fields(self, shape: type[S]) -> Iterator[S]:
        """Every member decoded as ``shape``, a struct naming only the fields wanted (others
        are skipped unread): a pass that keeps a few fields of each member leaves no decoded
        members behind to fragment the heap around what it keeps."""
        decoder = _shape_decoders.get(shape)
        if decoder is None:
            decoder = _shape_decoders.setdefault(shape, msgspec.msgpack.Decoder(shape))
        return self._walk(decoder)

    def _walk(self, decoder: msgspec.msgpack.Decoder[S]) -> Iterator[S]:
        """Every member in order, one block decompressed at a time."""
        for number, block in enumerate(self._blocks):
            raw = memoryview(zlib.decompress(block))
            first = number * _BLOCK
            for position in range(first, min(first + _BLOCK, self._count)):
                yield decoder.decode(self._member(raw, position))

    def __repr__(self) -> str:
        return f"PackedUsers({self._count} members, {self.packed_bytes:,} bytes)"

    @classmethod
    def _from_parts(cls, blocks: list[bytes], starts: bytes, count: int) -> PackedUsers:
        packed = cls(())
        packed._blocks = blocks
        packed._starts.frombytes(starts)
        packed._count = count
        return packed


# A stored report in this format starts with these bytes; anything else is an older format.
_MAGIC = b"UBPK1"


class _Stored(msgspec.Struct, array_like=True):
    """A report as the database keeps it: the members as packed in memory."""

    kind: ReportKind
    filters: ReportFilters
    fetched_at: datetime
    teams: bytes  # msgpack, compressed (a few thousand teams: decoded in milliseconds)
    count: int
    starts: bytes
    blocks: list[bytes]


_stored_encoder = msgspec.msgpack.Encoder()
_stored_decoder = msgspec.msgpack.Decoder(_Stored)
_teams_decoder = msgspec.msgpack.Decoder(list[TeamRecord])


def dump_report(report: Report) -> bytes:
    """The report as stored: its members packed (compressed), so that loading it decodes none.

    A 50,000-member report is ~3 MB, and a process loads it in milliseconds where decoding
    every member took half a second and ~90 MB at its peak.
    """
    users = report.users if isinstance(report.users, PackedUsers) else PackedUsers(report.users)
    stored = _Stored(
        kind=report.kind,
        filters=report.filters,
        fetched_at=report.fetched_at,
        teams=zlib.compress(_stored_encoder.encode(list(report.teams)), _LEVEL),
        count=len(users),
        starts=users._starts.tobytes(),
        blocks=users._blocks,
    )
    return _MAGIC + _stored_encoder.encode(stored)


def load_report(blob: bytes) -> Report | None:
    """A report stored by ``dump_report``; None for a blob of another format."""
    if not blob.startswith(_MAGIC):
        return None
    stored = _stored_decoder.decode(memoryview(blob)[len(_MAGIC) :])
    users = PackedUsers._from_parts(stored.blocks, stored.starts, stored.count)
    teams = _teams_decoder.decode(zlib.decompress(stored.teams))
    return Report(stored.kind, stored.filters, stored.fetched_at, users=users, teams=teams)
