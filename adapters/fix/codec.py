"""FIX 4.4 wire format: framing with BodyLength and CheckSum, split-based decoding, template encoding, timestamps.

The order path avoids simplefix on purpose: its encoder and parser cost several times our whole per-order budget.
Session messages (rare) are built with simplefix, and the property tests check this fast path against simplefix.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from zlib import adler32

import simplefix

SOH = "\x01"
BEGIN_STRING = "FIX.4.4"
PREFIX = b"8=FIX.4.4\x019="
_PREFIX_LEN = len(PREFIX)
_TRAILER_LEN = len(b"10=000\x01")
MAX_BODY_LENGTH = 1 << 20
NANOS_PER_SECOND = 1_000_000_000


class SessionRejectReason:
    """SessionRejectReason (373) codes used by the session layer."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_A_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    COMPID_PROBLEM = 9
    SENDING_TIME_ACCURACY_PROBLEM = 10
    INVALID_MSG_TYPE = 11


class InvalidMessage(Exception):
    """A well-framed message the session must refuse with a Reject (35=3) naming the tag and the reason."""

    def __init__(self, reason: int, text: str, ref_tag: int | None = None) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text
        self.ref_tag = ref_tag


# Inbound tags each message type must carry beyond the standard header, as the FIX 4.4 dictionary requires.
REQUIRED_TAGS: dict[str, tuple[str, ...]] = {
    "0": (),
    "1": ("112",),
    "2": ("7", "16"),
    "3": ("45",),
    "4": ("36",),
    "5": (),
    "A": ("98", "108"),
    "8": ("37", "17", "150", "39", "55", "54", "151", "14", "6"),
    "9": ("37", "11", "41", "39", "434"),
    "j": ("372", "380"),
}
HEADER_TAGS = ("35", "49", "56", "34", "52")


def checksum(data: bytes) -> int:
    """Sum of the bytes modulo 256, via zlib: adler32's low half is 1 + sum while a 256-byte chunk cannot wrap it."""
    if len(data) <= 256:
        return ((adler32(data) & 0xFFFF) - 1) & 0xFF
    view = memoryview(data)
    total = 0
    for start in range(0, len(data), 256):
        total += (adler32(view[start:start + 256]) & 0xFFFF) - 1
    return total & 0xFF


def frame(header_and_body: bytes) -> bytes:
    """Wrap ``35=...<SOH>`` through the last body field with BeginString, BodyLength and CheckSum."""
    message = b"8=FIX.4.4\x019=%d\x01%b" % (len(header_and_body), header_and_body)
    return b"%b10=%03d\x01" % (message, checksum(message))


def decode_fields(raw: bytes) -> dict[str, str]:
    """Split a framed message into ``{tag: value}``; a repeated tag keeps its last value (we read no groups)."""
    text = raw.decode("latin-1")
    # Fast path: one '=' per field, so a single split alternates tag and value.
    items = text.replace(SOH, "=").split("=")
    if len(items) == 2 * text.count(SOH) + 1:
        tags = items[0:-1:2]
        if "".join(tags).isdecimal():
            return dict(zip(tags, items[1::2]))
    fields: dict[str, str] = {}
    for field in text.split(SOH)[:-1]:
        tag, separator, value = field.partition("=")
        if not separator or not tag.isdecimal():
            raise InvalidMessage(SessionRejectReason.INVALID_TAG_NUMBER, f"field {field[:20]!r} has no numeric tag")
        fields[tag] = value
    return fields


def check_required(fields: dict[str, str], msg_type: str) -> None:
    """Refuse a message that lacks a tag its type requires, or carries a tag with an empty value."""
    for tag in REQUIRED_TAGS.get(msg_type, ()):
        value = fields.get(tag)
        if value is None:
            raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING, f"required tag {tag} missing", int(tag))
        if not value:
            raise InvalidMessage(SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE, f"tag {tag} has no value", int(tag))


class FrameReader:
    """Cut a TCP byte stream into whole FIX messages; garbled ones (bad BodyLength or CheckSum, junk) are dropped.

    A garbled message is not rejected and does not consume a sequence number (FIX session rules): the gap it leaves
    is recovered by a ResendRequest when the next good message arrives.
    """

    __slots__ = ("_buffer", "_on_garbled", "max_body_length")

    def __init__(self, on_garbled: Callable[[str, bytes], None], max_body_length: int = MAX_BODY_LENGTH) -> None:
        self._buffer = b""
        self._on_garbled = on_garbled
        self.max_body_length = max_body_length

    def clear(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete, checksum-verified messages now available."""
        buffer = self._buffer + data if self._buffer else data
        size = len(buffer)
        position = 0
        messages: list[bytes] = []
        prefix, prefix_len, max_body_length = PREFIX, _PREFIX_LEN, self.max_body_length
        while size - position >= prefix_len:
            if not buffer.startswith(prefix, position):
                position = self._skip_junk(buffer, position, "message does not start with 8=FIX.4.4|9=")
                continue
            length_start = position + prefix_len
            length_end = buffer.find(b"\x01", length_start, length_start + 8)
            if length_end < 0:
                if size - length_start >= 8:
                    position = self._skip_junk(buffer, position + 1, "BodyLength is not a number", position)
                    continue
                break
            length_text = buffer[length_start:length_end]
            body_length = int(length_text) if length_text.isdigit() else -1
            if body_length < 0 or body_length > max_body_length:
                position = self._skip_junk(buffer, position + 1, f"BodyLength {length_text!r} is invalid", position)
                continue
            checksum_start = length_end + 1 + body_length
            end = checksum_start + _TRAILER_LEN
            if end > size:
                break
            if not buffer.startswith(b"10=", checksum_start) or buffer[end - 1] != 1:
                position = self._skip_junk(buffer, position + 1, "BodyLength does not end at the CheckSum", position)
                continue
            declared = buffer[checksum_start + 3:end - 1]
            summed = buffer[position:checksum_start]
            if checksum_start - position <= 256:  # checksum() inlined for the usual size: this runs for every message
                total = ((adler32(summed) & 0xFFFF) - 1) & 0xFF
            else:
                total = checksum(summed)
            if not declared.isdigit() or int(declared) != total:
                self._on_garbled(f"CheckSum {declared.decode('latin-1')} is wrong", buffer[position:end])
                position = end
                continue
            messages.append(buffer[position:end])
            position = end
        self._buffer = buffer[position:] if position < size else b""
        return messages

    def _skip_junk(self, buffer: bytes, search_from: int, reason: str, garbled_from: int | None = None) -> int:
        start = search_from if garbled_from is None else garbled_from
        next_start = buffer.find(PREFIX, search_from)
        if next_start < 0:
            # Keep a tail that could be the beginning of the next message's prefix.
            next_start = max(search_from, len(buffer) - _PREFIX_LEN + 1)
            while next_start < len(buffer) and not PREFIX.startswith(buffer[next_start:]):
                next_start += 1
        self._on_garbled(reason, buffer[start:next_start])
        return next_start


# --- timestamps -------------------------------------------------------------------------------------------------


class TimestampFormatter:
    """Format ns since the epoch as a FIX UTCTimestamp with milliseconds, caching the text of the current second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, ns: int) -> str:
        second, remainder = divmod(ns, NANOS_PER_SECOND)
        if second != self._second:
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{remainder // 1_000_000:03d}"


_FRACTION_SCALE = (0, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1)
_last_second = ["", 0]  # the last "YYYYMMDD-HH:MM:SS" parsed and its ns: most timestamps share their second


_last_timestamp = ["", 0]  # the last text parsed: SendingTime and TransactTime of a burst repeat it


def parse_utc_timestamp(text: str) -> int:
    """Parse ``YYYYMMDD-HH:MM:SS[.fraction]`` (UTC) into ns since the epoch; ValueError if malformed."""
    if text == _last_timestamp[0]:
        return _last_timestamp[1]  # type: ignore[return-value]
    head = text[:17]
    if head == _last_second[0]:
        second_ns = _last_second[1]
    else:
        second_ns = _parse_second(head)
        _last_second[0] = head
        _last_second[1] = second_ns
    if len(text) == 17:
        return second_ns
    fraction = text[18:]
    if text[17] != "." or not fraction.isdecimal() or len(fraction) > 9:
        raise ValueError(f"{text!r} has a malformed fraction of a second")
    ns = second_ns + int(fraction) * _FRACTION_SCALE[len(fraction)]
    _last_timestamp[0] = text
    _last_timestamp[1] = ns
    return ns


def _parse_second(head: str) -> int:
    if len(head) != 17 or head[8] != "-" or head[11] != ":" or head[14] != ":":
        raise ValueError(f"{head!r} is not a UTCTimestamp")
    digits = head[:8] + head[9:11] + head[12:14] + head[15:17]
    if not digits.isdecimal():
        raise ValueError(f"{head!r} is not a UTCTimestamp")
    year, month, day = int(head[:4]), int(head[4:6]), int(head[6:8])
    hours, minutes, seconds = int(head[9:11]), int(head[12:14]), int(head[15:17])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        raise ValueError(f"{head!r} is not a calendar date")
    if hours > 23 or minutes > 59 or seconds > 60:
        raise ValueError(f"{head!r} has an impossible time of day")
    return calendar.timegm((year, month, day, hours, minutes, seconds)) * NANOS_PER_SECOND


# --- exact numbers --------------------------------------------------------------------------------------------------


def parse_price_units(text: str, precision: int) -> int:
    """Parse a decimal price into integer units of ``10**-precision`` with integer math; refuse finer values."""
    whole, _, fraction = text.partition(".")
    if len(fraction) == precision and whole.isdecimal() and (not fraction or fraction.isdecimal()):
        return int(whole) * 10**precision + (int(fraction) if fraction else 0)  # the usual shape, at full precision
    negative = text.startswith("-")
    digits = text[1:] if negative or text.startswith("+") else text
    whole, _, fraction = digits.partition(".")
    if not (whole or fraction) or (whole and not whole.isdecimal()) or (fraction and not fraction.isdecimal()):
        raise ValueError(f"{text!r} is not a decimal price")
    if len(fraction) > precision:
        if fraction[precision:].strip("0"):
            raise ValueError(f"{text!r} has more than {precision} decimals")
        fraction = fraction[:precision]
    units = int(whole or "0") * 10**precision + int(fraction.ljust(precision, "0") or "0")
    return -units if negative else units


def parse_quantity(text: str) -> int:
    """Parse a FIX Qty as an integer share count; refuse fractional quantities."""
    if text.isdecimal():
        return int(text)
    whole, dot, fraction = text.partition(".")
    if dot and whole.isdecimal() and (not fraction or (fraction.isdecimal() and not fraction.strip("0"))):
        return int(whole)
    raise ValueError(f"{text!r} is not a whole quantity")


# --- encoding -----------------------------------------------------------------------------------------------------


class MessageEncoder:
    """Encode messages of one session: precomputed ``35=..|49=..|56=..|34=`` headers per type, then framing."""

    __slots__ = ("_headers", "sender_comp_id", "target_comp_id", "timestamps")

    def __init__(self, sender_comp_id: str, target_comp_id: str) -> None:
        self.sender_comp_id = sender_comp_id
        self.target_comp_id = target_comp_id
        self._headers: dict[str, str] = {}
        self.timestamps = TimestampFormatter()

    def header_template(self, msg_type: str) -> str:
        header = self._headers.get(msg_type)
        if header is None:
            header = f"35={msg_type}\x0149={self.sender_comp_id}\x0156={self.target_comp_id}\x0134="
            self._headers[msg_type] = header
        return header

    def encode(self, msg_type: str, seq: int, sending_time: str, body: str) -> bytes:
        """Frame an application message; ``body`` is ``tag=value<SOH>`` fields, each ending with SOH."""
        header = self._headers.get(msg_type) or self.header_template(msg_type)
        return frame(f"{header}{seq}\x0152={sending_time}\x01{body}".encode("latin-1"))

    def encode_admin(
        self,
        msg_type: str,
        seq: int,
        sending_time: str,
        fields: list[tuple[int, str]],
        orig_sending_time: str | None = None,
    ) -> bytes:
        """Build a session message with simplefix (rare path); ``orig_sending_time`` marks it PossDup."""
        message = simplefix.FixMessage()
        message.append_pair(8, BEGIN_STRING, header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender_comp_id, header=True)
        message.append_pair(56, self.target_comp_id, header=True)
        message.append_pair(34, seq, header=True)
        if orig_sending_time is not None:
            message.append_pair(43, "Y", header=True)
        message.append_pair(52, sending_time, header=True)
        if orig_sending_time is not None:
            message.append_pair(122, orig_sending_time, header=True)
        for tag, value in fields:
            message.append_pair(tag, value)
        return message.encode()

    def encode_resend(self, raw: bytes, sending_time: str) -> bytes:
        """Re-frame a stored message for a resend: same MsgSeqNum and body, PossDupFlag=Y, OrigSendingTime kept."""
        pairs = [field.split("=", 1) for field in raw.decode("latin-1").split(SOH)[:-1]]
        header = {tag: value for tag, value in pairs if tag in ("35", "34", "52")}
        body = "".join(f"{tag}={value}\x01" for tag, value in pairs
                       if tag not in ("8", "9", "10", "35", "49", "56", "34", "52", "43", "97", "122"))
        text = (f"{self.header_template(header['35'])}{header['34']}\x0143=Y\x0152={sending_time}"
                f"\x01122={header['52']}\x01{body}")
        return frame(text.encode("latin-1"))
