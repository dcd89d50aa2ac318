"""The fast codec checked against simplefix (the reference) with hypothesis, plus exact prices and timestamps."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import simplefix
from hypothesis import given, settings
from hypothesis import strategies as st
from simplefix.data import RAW_DATA_TAGS, RAW_LEN_TAGS

from adapters.fix.codec import (
    FrameReader,
    InvalidMessage,
    MessageEncoder,
    TimestampFormatter,
    checksum,
    decode_fields,
    frame,
    parse_price_units,
    parse_quantity,
    parse_utc_timestamp,
)
from adapters.fix.mapping import FixOrderMapper
from gateway.model import Instrument, Order, OrderType, Side, TimeInForce

_SPECIAL = {8, 9, 10, 35} | {int(t) for t in RAW_LEN_TAGS + RAW_DATA_TAGS}  # framing and binary data tags
tags = st.integers(min_value=11, max_value=9999).filter(lambda t: t not in _SPECIAL)
values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30)
field_lists = st.lists(st.tuples(tags, values), min_size=1, max_size=25)


def reference(msg_type: str, fields: list[tuple[int, str]]) -> bytes:
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4", header=True)
    message.append_pair(35, msg_type, header=True)
    for tag, value in fields:
        message.append_pair(tag, value)
    return message.encode()


@given(st.binary(max_size=2000))
def test_checksum_is_the_byte_sum_modulo_256(data: bytes) -> None:
    assert checksum(data) == sum(data) % 256


@given(field_lists)
def test_framing_matches_simplefix_byte_for_byte(fields: list[tuple[int, str]]) -> None:
    body = "35=8\x01" + "".join(f"{tag}={value}\x01" for tag, value in fields)
    assert frame(body.encode()) == reference("8", fields)


@given(field_lists)
def test_decoding_matches_simplefix_parsing(fields: list[tuple[int, str]]) -> None:
    raw = reference("8", fields)
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    parsed = parser.get_message()
    expected = {tag.decode(): value.decode() for tag, value in parsed.pairs}
    assert decode_fields(raw) == expected


def test_decoding_refuses_a_field_without_a_tag() -> None:
    with pytest.raises(InvalidMessage):
        decode_fields(b"8=FIX.4.4\x019=5\x01junk\x0110=000\x01")
    assert decode_fields(b"8=FIX.4.4\x0158=a=b\x0110=000\x01")["58"] == "a=b"


@given(st.lists(field_lists, min_size=1, max_size=6), st.data())
def test_frame_reader_cuts_any_chunking_into_the_same_messages(messages: list[list[tuple[int, str]]],
                                                               data: st.DataObject) -> None:
    stream = b"".join(reference("8", fields) for fields in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    garbled: list[str] = []
    reader = FrameReader(lambda reason, fragment: garbled.append(reason))
    out: list[bytes] = []
    previous = 0
    for cut in cuts + [len(stream)]:
        out += reader.feed(stream[previous:cut])
        previous = cut
    assert out == [reference("8", fields) for fields in messages] and garbled == []


@given(st.lists(field_lists, min_size=2, max_size=5), st.integers(0, 3), st.sampled_from(["checksum", "length",
                                                                                           "junk"]))
@settings(max_examples=60)
def test_frame_reader_drops_a_garbled_message_and_keeps_the_rest(messages: list[list[tuple[int, str]]], index: int,
                                                                 damage: str) -> None:
    encoded = [reference("8", fields) for fields in messages]
    index %= len(encoded)
    victim = encoded[index]
    if damage == "checksum":
        victim = victim[:-4] + b"%03d\x01" % ((int(victim[-4:-1]) + 1) % 256)
    elif damage == "length":
        start = victim.index(b"\x019=") + 3
        end = victim.index(b"\x01", start)
        victim = victim[:start] + str(int(victim[start:end]) + 3).encode() + victim[end:]
    else:
        victim = b"\x00garbage\x01" + victim
    # A BodyLength that is too long can only be found out once the bytes after it arrive: one more message follows.
    trailer = reference("0", [(112, "AFTER")])
    stream = b"".join(encoded[:index] + [victim] + encoded[index + 1:] + [trailer])
    garbled: list[str] = []
    reader = FrameReader(lambda reason, fragment: garbled.append(reason))
    out = reader.feed(stream)
    survivors = encoded[:index] + encoded[index + 1:] if damage != "junk" else encoded
    assert out == survivors + [trailer] and garbled


def test_template_encoder_output_is_valid_fix_for_simplefix() -> None:
    encoder = MessageEncoder("UNWIND", "BROKER")
    raw = encoder.encode("D", 42, "20261122-10:00:00.123", "11=C1\x0155=ACME\x0154=1\x0138=100\x01")
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    message = parser.get_message()
    assert [(t, v) for t, v in message.pairs if t not in (b"9", b"10")] == [
        (b"8", b"FIX.4.4"), (b"35", b"D"), (b"49", b"UNWIND"), (b"56", b"BROKER"), (b"34", b"42"),
        (b"52", b"20261122-10:00:00.123"), (b"11", b"C1"), (b"55", b"ACME"), (b"54", b"1"), (b"38", b"100")]
    assert int(message.get(10)) == sum(raw[:raw.rfind(b"10=")]) % 256
    assert int(message.get(9)) == len(raw) - raw.index(b"35=") - 7


instrument_precisions = st.integers(min_value=0, max_value=8)


@given(instrument_precisions, st.integers(min_value=1, max_value=10**12), st.sampled_from(list(Side)),
       st.sampled_from(list(OrderType)), st.sampled_from(list(TimeInForce)), st.integers(1, 10**9),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=20))
@settings(max_examples=200)
def test_new_order_single_matches_what_simplefix_builds(precision: int, price: int, side: Side, kind: OrderType,
                                                        tif: TimeInForce, quantity: int, client_id: str) -> None:
    instrument = Instrument("SYM", 1, 1, precision, price, 0, 0, 1)
    mapper = FixOrderMapper("BROKER", {"SYM": instrument})
    expire_ns = 1_900_000_000_000_000_000 if tif is TimeInForce.GTD else None
    order = Order("O1", "C1", "ACC", "p", "SYM", side, kind, tif, quantity,
                  price if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                  price + 1 if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None, expire_ns, "BROKER", 0,
                  venue_client_order_id=client_id)
    transact = "20261122-10:00:00.123"
    encoder = MessageEncoder("UNWIND", "BROKER")
    ours = encoder.encode("D", 7, transact, mapper.new_order_single(order, transact))

    expected = [(11, client_id), (1, "ACC"), (21, "1"), (55, "SYM"), (54, {Side.BUY: "1", Side.SELL: "2"}[side]),
                (40, {"MARKET": "1", "LIMIT": "2", "STOP": "3", "STOP_LIMIT": "4"}[kind.value]),
                (59, {"DAY": "0", "IOC": "3", "FOK": "4", "GTD": "6"}[tif.value]), (38, str(quantity))]
    if order.limit_price is not None:
        expected.append((44, instrument.format_price(order.limit_price)))
    if order.stop_price is not None:
        expected.append((99, instrument.format_price(order.stop_price)))
    if expire_ns is not None:
        expected.append((126, "20300317-17:46:40.000"))
    expected.append((60, transact))
    message = simplefix.FixMessage()
    for tag, value in [(8, "FIX.4.4"), (35, "D"), (49, "UNWIND"), (56, "BROKER"), (34, "7"), (52, transact)]:
        message.append_pair(tag, value, header=True)
    for tag, value in expected:
        message.append_pair(tag, value)
    assert ours == message.encode()
    fields = decode_fields(ours)
    if order.limit_price is not None:
        assert parse_price_units(fields["44"], precision) == order.limit_price


@given(instrument_precisions, st.integers(min_value=-10**15, max_value=10**15))
def test_prices_round_trip_exactly_at_the_instrument_precision(precision: int, units: int) -> None:
    instrument = Instrument("SYM", 1, 1, precision, 1, 0, 0, 1)
    text = instrument.format_price(units)
    assert parse_price_units(text, precision) == units
    assert len(text.partition(".")[2]) == precision


def test_price_parsing_accepts_shorter_and_zero_padded_forms_and_refuses_finer_ones() -> None:
    assert parse_price_units("1700.1", 2) == 170010
    assert parse_price_units("1700.100000", 2) == 170010
    assert parse_price_units("1700", 2) == 170000
    assert parse_price_units(".5", 2) == 50
    assert parse_price_units("-0.25", 2) == -25
    for bad in ("1700.105", "1e3", "", ".", "1.2.3", "abc", "12a"):
        with pytest.raises(ValueError):
            parse_price_units(bad, 2)
    assert parse_quantity("100") == 100 and parse_quantity("100.000") == 100
    for bad in ("12.5", "-1", "x", ""):
        with pytest.raises(ValueError):
            parse_quantity(bad)


@given(st.integers(min_value=0, max_value=4_102_444_799_999_999_999))
def test_timestamps_format_and_parse_back_to_the_millisecond(ns: int) -> None:
    text = TimestampFormatter().format(ns)
    expected = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y%m%d-%H:%M:%S")
    assert text == f"{expected}.{ns // 1_000_000 % 1000:03d}"
    assert parse_utc_timestamp(text) == ns - ns % 1_000_000


def test_timestamp_parsing_takes_every_precision_and_refuses_nonsense() -> None:
    assert parse_utc_timestamp("20261122-10:00:00") == 1_795_341_600_000_000_000
    assert parse_utc_timestamp("20261122-10:00:00.123456789") == 1_795_341_600_123_456_789
    assert parse_utc_timestamp("20261122-10:00:00.5") == 1_795_341_600_500_000_000
    for bad in ("20261122 10:00:00", "20261322-10:00:00", "20260230-10:00:00", "20261122-25:00:00",
                "20261122-10:00:00.", "2026112a-10:00:00", "20261122-10:00:00.1234567890"):
        with pytest.raises(ValueError):
            parse_utc_timestamp(bad)


def test_random_bytes_never_crash_the_frame_reader() -> None:
    generator = random.Random(7)
    good = reference("0", [(112, "X")])
    for _ in range(300):
        noise = bytes(generator.randrange(256) for _ in range(generator.randrange(0, 80)))
        garbled: list[bytes] = []
        reader = FrameReader(lambda reason, fragment, into=garbled: into.append(fragment))
        assert reader.feed(noise + good) == [good]
        assert b"".join(garbled) == noise
