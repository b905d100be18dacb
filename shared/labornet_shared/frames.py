"""AMQP 0-9-1 frames for a batch of ``basic.publish``, written in one send.

py-amqp encodes each message's properties with its generic serializer and
sends each message with its own ``sendall``: ~65 µs of CPU per message, the
larger part of publishing a national roster's 8,879 events. The outbox relay
publishes messages of one fixed shape (the properties nameko's own
``EventDispatcher`` sets), so it encodes them here, directly, and hands the
socket the whole batch at once (~10 µs per message).

Only what the relay needs: ``basic.publish`` with persistent delivery and
these properties. The frame layout is the AMQP 0-9-1 specification's
(section 4.2.3 and 4.2.6); ``tests/test_frames.py`` checks every field
against py-amqp's own encoder and a round trip through RabbitMQ.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

FRAME_METHOD, FRAME_HEADER, FRAME_BODY = 1, 2, 3
FRAME_END = b"\xce"
BASIC_CLASS, BASIC_PUBLISH = 60, 40

# basic properties present, in the specification's flag order: content_type,
# content_encoding, headers, delivery_mode, correlation_id, message_id,
# timestamp, type
PROPERTY_FLAGS = (
    (1 << 15) | (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10) | (1 << 7) | (1 << 6)
) | (1 << 5)
PERSISTENT = 2

_FRAME_HEAD = struct.Struct(">BHI")
_PUBLISH_HEAD = struct.Struct(">HHH")  # class, method, reserved ticket
_CONTENT_HEAD = struct.Struct(">HHQH")  # class, weight, body size, flags
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def _shortstr(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"AMQP short string over 255 bytes: {text[:40]!r}...")
    return bytes((len(raw),)) + raw


def _longstr_field(name: str, value: str) -> bytes:
    raw = value.encode("utf-8")
    return _shortstr(name) + b"S" + _U32.pack(len(raw)) + raw


def _frame(kind: int, channel: int, payload: bytes) -> bytes:
    return _FRAME_HEAD.pack(kind, channel, len(payload)) + payload + FRAME_END


def publish_frames(
    channel: int,
    frame_max: int,
    *,
    exchange: str,
    routing_key: str,
    body: bytes,
    message_id: str,
    event_type: str,
    correlation_id: str,
    timestamp: int,
) -> bytes:
    """The method, header and body frames of one persistent event message.

    The properties are those the relay has always set: JSON in UTF-8,
    persistent, the event id as ``message_id`` and in nameko's
    ``nameko.event_id`` header, the correlation id in both places.
    """
    method = (
        _PUBLISH_HEAD.pack(BASIC_CLASS, BASIC_PUBLISH, 0)
        + _shortstr(exchange)
        + _shortstr(routing_key)
        + b"\x00"  # mandatory and immediate both off
    )
    headers = _longstr_field("nameko.correlation_id", correlation_id) + (
        _longstr_field("nameko.event_id", message_id)
    )
    properties = (
        _shortstr("application/json")
        + _shortstr("utf-8")
        + _U32.pack(len(headers))
        + headers
        + bytes((PERSISTENT,))
        + _shortstr(correlation_id)
        + _shortstr(message_id)
        + _U64.pack(timestamp)
        + _shortstr(event_type)
    )
    header = _CONTENT_HEAD.pack(BASIC_CLASS, 0, len(body), PROPERTY_FLAGS) + properties
    parts = [
        _frame(FRAME_METHOD, channel, method),
        _frame(FRAME_HEADER, channel, header),
    ]
    # a body larger than a frame goes in several body frames
    chunk = frame_max - 8
    for start in range(0, len(body), chunk):
        parts.append(_frame(FRAME_BODY, channel, body[start : start + chunk]))
    return b"".join(parts)


def publish_batch_frames(
    channel: int, frame_max: int, messages: Iterable[dict[str, Any]], timestamp: int
) -> bytes:
    """The frames of every outbox message of a batch, in order, as one buffer."""
    return b"".join(
        publish_frames(
            channel,
            frame_max,
            exchange=message["exchange"],
            routing_key=message["routing_key"],
            body=_body_bytes(message["body"]),
            message_id=message["event_id"],
            event_type=message["event_type"],
            correlation_id=message.get("correlation_id") or "",
            timestamp=timestamp,
        )
        for message in messages
    )


def _body_bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body
