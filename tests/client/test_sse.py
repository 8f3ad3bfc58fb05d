"""The SSE parser against the HTML standard's rules (pure logic)."""

from __future__ import annotations

from tidings.client import ServerEvent, SSEParser


def parse(*chunks: bytes) -> tuple[list[ServerEvent], SSEParser]:
    parser = SSEParser()
    events: list[ServerEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events, parser


def test_data_lines_join_with_newlines_and_one_leading_space_is_dropped() -> None:
    events, _ = parse(b"data: first\ndata:second\ndata:  third\n\n")
    assert events == [ServerEvent("first\nsecond\n third")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    events, _ = parse(b": keepalive\nfoo: bar\ndata: x\n\n:\n\n")
    assert events == [ServerEvent("x")]


def test_all_three_line_endings() -> None:
    events, _ = parse(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n")
    assert [e.data for e in events] == ["a", "b", "c"]


def test_chunks_split_anywhere_including_between_cr_and_lf() -> None:
    raw = b"id: 7\r\ndata: h\xc3\xa9llo\r\n\r\ndata: two\r\n\r\n"
    whole, _ = parse(raw)
    for cut in range(1, len(raw)):
        split, _ = parse(raw[:cut], raw[cut:])
        assert split == whole, cut
    assert whole == [ServerEvent("h\u00e9llo", id="7"), ServerEvent("two", id="7")]
    bytewise, _ = parse(*[raw[i : i + 1] for i in range(len(raw))])
    assert bytewise == whole


def test_id_persists_and_nul_ids_are_ignored() -> None:
    events, parser = parse(b"id: a1\ndata: 1\n\ndata: 2\n\nid: b\x002\ndata: 3\n\nid\ndata: 4\n\n")
    assert [e.id for e in events] == ["a1", "a1", "a1", ""]
    assert parser.last_event_id == ""


def test_id_without_data_still_updates_last_event_id() -> None:
    events, parser = parse(b"id: only\n\n")
    assert events == []
    assert parser.last_event_id == "only"


def test_event_type_and_retry() -> None:
    events, parser = parse(b"event: update\ndata: x\n\nretry: 1500\n\nretry: 1x\n\ndata: y\n\n")
    assert events == [ServerEvent("x", event="update"), ServerEvent("y")]
    assert parser.retry_ms == 1500


def test_leading_bom_is_skipped_once_and_field_without_colon() -> None:
    events, _ = parse(b"\xef\xbb\xbfdata\n\ndata: z\n\n")
    assert events == [ServerEvent(""), ServerEvent("z")]


def test_incomplete_event_is_not_dispatched() -> None:
    events, _ = parse(b"data: partial\n")
    assert events == []
