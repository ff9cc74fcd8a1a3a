"""Result rendering of the Web API V2: CSV (tab-separated), HTML, XML and JSON, streamed.

``nxql.md`` (*Result formats*, *Error page*) and ``data-model.md`` (*Types*) are the rules; this
module follows them and settles what they leave open:

* Row values are what psycopg 3 returns: ``str``, ``int``, ``float``, ``bool``, aware ``datetime``,
  ``ipaddress`` addresses/interfaces, ``list`` (``text[]``), ``Decimal`` (``numeric``, e.g. ``sum``
  of a ``bigint``) and ``None`` (absent: ``null`` in JSON, empty elsewhere).
* Reals (``real``, ``percent`` with ``hr=false``) are Python's ``str(float)``: the shortest text that
  reads back to the same double, so ``0.5``, ``2.0``, ``1e-05``, ``1e+16``. A ``Decimal`` in a real
  column is shown as the nearest double. NaN and infinities are ``NaN``/``Infinity``/``-Infinity``
  as text and ``null`` in JSON (which has no such numbers).
* Integer-typed columns (int, id, duration, bytes) show digits; a non-integral value there (an
  average, say) is shown like a real. In JSON an integral ``Decimal`` is an integer.
* Datetimes are shown in UTC, whole seconds (fractions are dropped, not rounded); a naive datetime
  is taken as UTC.
* An ``inet`` holding a single address (``/32``, ``/128``) is shown without its mask; a network
  keeps it (``10.1.0.0/16``).
* ``NULL`` elements of a list are empty texts in the joined text and ``null`` in JSON arrays.
* XML: ``& < > "`` are escaped, and so is a carriage return (``&#13;``, which an XML parser would
  otherwise turn into a newline); characters XML 1.0 forbids (controls other than tab, newline and
  CR, surrogates, U+FFFE, U+FFFF) are removed. An absent value is ``<c></c>``.
* Documents other than CSV end without a newline; the XML declaration is directly followed by
  ``<table>``.

Speed (``bench/render_bench.py``): every column gets one formatter function, chosen once from its
type and the format; a row function generated for the column list unpacks the row, formats the
common values inline (an ``int``, a text needing no escaping, an IPv4 address: no call) and the
others with the formatters, and fills a per-format row template with one ``%``. Rows are taken in
batches sized to fill a chunk of about ``CHUNK_SIZE`` characters, which is joined and encoded in
one go: memory stays constant whatever the number of rows, and the caller's iterator is only read
as chunks are asked for.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from itertools import islice
from json.encoder import encode_basestring as _json_string  # C-accelerated; keeps non-ASCII as is
from socket import inet_ntoa as _inet_ntoa

from engine.schema.types import FieldType

__all__ = [
    "CHUNK_SIZE",
    "CONTENT_TYPES",
    "ERROR_CONTENT_TYPE",
    "FORMATS",
    "ResultColumn",
    "error_page",
    "format_human",
    "format_text",
    "render",
]

FORMATS = ("csv", "html", "xml", "json")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xml": "application/xml",
    "html": "text/html; charset=utf-8",
}
ERROR_CONTENT_TYPE = "text/html; charset=utf-8"

CHUNK_SIZE = 64 * 1024  # characters per yielded chunk (about as many bytes for mostly ASCII data)
_MAX_BATCH = 4096

Formatter = Callable[[object], str]


@dataclass(frozen=True, slots=True)
class ResultColumn:
    """One output column: its name (``name``, ``device/name``, ``#Category`` without ``#``...)
    and its type, which decides how values are written."""

    name: str
    type: FieldType


# ----------------------------------------------------------------------------------------------
# Plain values


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_FLOAT_SPECIALS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _float_text(value: float) -> str:
    text = repr(value)
    return _FLOAT_SPECIALS[text] if text[-1] in "nf" else text


def _float_json(value: float) -> str:
    text = repr(value)
    return "null" if text[-1] in "nf" else text


def _decimal_is_integral(value: Decimal) -> bool:
    return value.is_finite() and value == value.to_integral_value()


def _ip_text(value) -> str:
    """An ``inet`` value as text: dotted (or IPv6) without the mask of a single address."""
    kind = type(value)
    if kind is IPv4Address:
        # About four times faster than str(), which formats in Python; _ip is the address as an int
        # (ipaddress has kept it since Python 3.3; the tests compare with str()).
        return _inet_ntoa(value._ip.to_bytes(4, "big"))
    if kind is IPv4Interface or kind is IPv6Interface:
        if value.network.prefixlen == value.max_prefixlen:
            return _ip_text(value.ip)
        return value.with_prefixlen
    if kind is str:
        return value
    return str(value)  # IPv6Address, networks


def _datetime_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _datetime_text(value: datetime, hr: bool = False) -> str:
    text = _datetime_utc(value).isoformat(timespec="seconds")
    return f"{text[:10]} {text[11:19]}" if hr else f"{text[:19]}Z"


def _text_any(value, hr: bool = False) -> str:
    """The text of a value whatever its column says; the fallback of every text formatter."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        if hr:
            return "yes" if value else "no"
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, Decimal):
        return str(int(value)) if _decimal_is_integral(value) else _float_text(float(value))
    if isinstance(value, datetime):
        return _datetime_text(value, hr)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, IPv4Address | IPv6Address | IPv4Interface | IPv6Interface | IPv4Network | IPv6Network):
        return _ip_text(value)
    if isinstance(value, list | tuple):
        return ", ".join([_text_any(item, hr) for item in value])
    return str(value)


def _json_any(value) -> str:
    """A value as a JSON text whatever its column says; the fallback of every JSON formatter."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float_json(value)
    if isinstance(value, Decimal):
        if _decimal_is_integral(value):
            return str(int(value))
        return _float_json(float(value))
    if isinstance(value, list | tuple):
        return "[" + ",".join([_json_any(item) for item in value]) + "]"
    if isinstance(value, dict):
        return "{" + ",".join([_json_string(str(k)) + ":" + _json_any(v) for k, v in value.items()]) + "}"
    return _json_string(_text_any(value))


# ----------------------------------------------------------------------------------------------
# Human-readable values (hr=true)


def _ratio(value) -> tuple[int, int] | None:
    """A finite number as an exact fraction (numerator, positive denominator); ``None`` otherwise.

    A float is taken as the decimal its ``repr`` shows (``0.85`` is 85/100, not the double's exact
    binary value), so half-up rounding of a shown ``…5`` goes up as a reader expects.
    """
    kind = type(value)
    if kind is int:
        return value, 1
    if kind is float:
        if value.is_integer():
            return int(value), 1
        if value - value != 0:  # NaN or infinity
            return None
        return Decimal(repr(value)).as_integer_ratio()
    if isinstance(value, Decimal):
        return value.as_integer_ratio() if value.is_finite() else None
    if isinstance(value, int):  # bool and int subclasses
        return int(value), 1
    return None


def _human_duration(value) -> str:
    if type(value) is int:  # the common case, in integer arithmetic (about twice as fast)
        sign = ""
        if value < 0:
            sign, value = "-", -value
        if value < 1000:
            return f"{sign}{value} ms" if value else "0 ms"
        tenths = (value + 50) // 100
        if tenths < 600:
            return f"{sign}{tenths // 10}.{tenths % 10} s"
        num, den = value, 1
    else:
        ratio = _ratio(value)
        if ratio is None:
            return _text_any(value, True)
        num, den = ratio
        sign = "-" if num < 0 else ""
        num = abs(num)
        # Each bracket rounds half-up at its own precision; a value that rounds up to the bracket's
        # end falls through to the next one (59 960 ms -> "1 min 0 s").
        ms = (2 * num + den) // (2 * den)
        if ms < 1000:
            return f"{sign}{ms} ms" if ms else "0 ms"
        tenths = (2 * num + 100 * den) // (200 * den)  # tenths of a second
        if tenths < 600:
            return f"{sign}{tenths // 10}.{tenths % 10} s"
    seconds = (2 * num + 1000 * den) // (2000 * den)
    if seconds < 3600:
        return f"{sign}{seconds // 60} min {seconds % 60} s"
    minutes = (2 * num + 60_000 * den) // (120_000 * den)
    if minutes < 1440:
        return f"{sign}{minutes // 60} h {minutes % 60} min"
    hours = (2 * num + 3_600_000 * den) // (7_200_000 * den)
    return f"{sign}{hours // 24} d {hours % 24} h"


_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB")


def _human_bytes(value) -> str:
    if type(value) is int:  # the common case, with shifts (about twice as fast)
        sign = ""
        if value < 0:
            sign, value = "-", -value
        if value < 1024:
            return f"{sign}{value} B" if value else "0 B"
        # The largest unit not above the value, then one step up if the tenths round up to 1024.0.
        power = min(4, (value.bit_length() - 1) // 10)
        shift = 10 * power
        tenths = (20 * value + (1 << shift)) >> (shift + 1)  # half-up of value * 10 / 1024**power
        if tenths >= 10240 and power < 4:
            power += 1
            shift += 10
            tenths = (20 * value + (1 << shift)) >> (shift + 1)
        return f"{sign}{tenths // 10}.{tenths % 10} {_BYTE_UNITS[power]}"
    ratio = _ratio(value)
    if ratio is None:
        return _text_any(value, True)
    num, den = ratio
    sign = "-" if num < 0 else ""
    num = abs(num)
    count = (2 * num + den) // (2 * den)
    if count < 1024:
        return f"{sign}{count} B" if count else "0 B"
    # The largest unit not above the rounded count (a count that rounded up to 1024**k is shown
    # in unit k, as the next bracket), then one step up if the tenths round up to 1024.0.
    power = min(4, (count.bit_length() - 1) // 10)
    size = 1 << (10 * power)
    tenths = (20 * num + size * den) // (2 * size * den)
    if tenths >= 10240 and power < 4:
        power += 1
        size <<= 10
        tenths = (20 * num + size * den) // (2 * size * den)
    return f"{sign}{tenths // 10}.{tenths % 10} {_BYTE_UNITS[power]}"


def _human_percent(value) -> str:
    ratio = _ratio(value)
    if ratio is None:
        return _text_any(value, True)
    num, den = ratio
    tenths = (2000 * abs(num) + den) // (2 * den)  # tenths of a percent, half-up
    sign = "-" if num < 0 and tenths else ""
    return f"{sign}{tenths // 10}.{tenths % 10} %"


def format_human(value, field_type: FieldType) -> str:
    """The ``hr=true`` text of one value (``data-model.md``, *Types*); ``""`` when absent."""
    return _plain_formatter(field_type, True)(value)


def format_text(value, field_type: FieldType, *, hr: bool = False) -> str:
    """The text of one value as CSV, XML and HTML show it, before their escaping; ``""`` when absent."""
    return _plain_formatter(field_type, hr)(value)


@functools.cache
def _plain_formatter(field_type: FieldType, hr: bool) -> Formatter:
    """One unescaped formatter per type, built once (building one costs far more than using it)."""
    return _text_formatter(field_type, hr, _identity)


# ----------------------------------------------------------------------------------------------
# Formatters: one function per column, chosen once


def _identity(text: str) -> str:
    return text


_HOURS_MINUTES = [f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60)]


def _datetime_formatter(separator: str, suffix: str, fallback: Formatter, *, quote: str = "",
                        none: str = "") -> Formatter:
    """Datetimes as ``<quote>YYYY-MM-DD<separator>hh:mm:ss<suffix>`` in UTC; ``none`` when absent,
    ``fallback(value)`` for a value that is not a datetime.

    About eight times faster than ``isoformat``: one subtraction gives the day and the second of
    the day since the epoch, the date part is cached per day and the time comes from tables.
    """
    days: dict[int, str] = {}
    seconds_text = [f"{second:02d}{suffix}" for second in range(60)]
    hours_minutes = _HOURS_MINUTES

    def fmt(value) -> str:
        if value is None:
            return none
        try:
            delta = value - _EPOCH  # aware datetimes of any zone
        except TypeError:
            if type(value) is not datetime:  # date, text...
                return fallback(value)
            delta = value.replace(tzinfo=UTC) - _EPOCH  # naive: taken as UTC
        if type(delta) is not timedelta:
            return fallback(value)
        day = delta.days
        prefix = days.get(day)
        if prefix is None:
            if len(days) > 100_000:
                days.clear()
            prefix = days[day] = quote + (_EPOCH_DATE + timedelta(days=day)).isoformat() + separator
        seconds = delta.seconds
        return prefix + hours_minutes[seconds // 60] + seconds_text[seconds % 60]

    return fmt


# Expressions the generated row function uses instead of calling a column's formatter, for the common
# values (``{v}`` the value, ``{f}`` the formatter for the others): saves a call per value.
_INT_INLINE = "(str({v}) if {v}.__class__ is int else {f}({v}))"
_FLOAT_INLINE = "(repr({v}) if {v}.__class__ is float and {v} - {v} == 0 else {f}({v}))"  # finite floats
_IPV4_INLINE = '(N({v}._ip.to_bytes(4, "big")) if {v}.__class__ is A4 else {f}({v}))'  # see _ip_text
_IPV4_JSON_INLINE = """('"' + N({v}._ip.to_bytes(4, "big")) + '"' if {v}.__class__ is A4 else {f}({v}))"""


def _text_formatter(field_type: FieldType, hr: bool, escape: Callable[[str], str]) -> Formatter:
    """The formatter of a column's values as CSV/XML/HTML text. ``escape`` is applied to any text
    that may need it (strings, lists, unexpected values); numbers, dates and addresses never do."""

    def fallback(value) -> str:
        return escape(_text_any(value, hr))

    if field_type in (FieldType.STRING, FieldType.ENUM, FieldType.UID):

        def fmt(value) -> str:
            if value is None:
                return ""
            return escape(value if type(value) is str else _text_any(value, hr))

        inline = _SAFE_TEXT_INLINE.get(escape)
        if inline:
            fmt.inline = inline

    elif field_type is FieldType.LIST:

        def fmt(value) -> str:
            if value is None:
                return ""
            try:
                return escape(", ".join(value) if type(value) is list else _text_any(value, hr))
            except TypeError:  # non-text or NULL elements
                return fallback(value)

    elif field_type in (FieldType.INT, FieldType.ID) or (
        field_type in (FieldType.DURATION, FieldType.BYTES) and not hr
    ):

        def fmt(value) -> str:
            if value is None:
                return ""
            if type(value) is int:
                return str(value)
            if type(value) is float and value.is_integer():
                return str(int(value))
            return fallback(value)

        fmt.inline = _INT_INLINE

    elif field_type is FieldType.REAL or (field_type is FieldType.PERCENT and not hr):

        def fmt(value) -> str:
            if value is None:
                return ""
            if type(value) is float:
                return _float_text(value)
            if type(value) is int or isinstance(value, Decimal):
                return _float_text(float(value))
            return fallback(value)

        fmt.inline = _FLOAT_INLINE

    elif field_type is FieldType.BOOL:
        true, false = ("yes", "no") if hr else ("true", "false")

        def fmt(value) -> str:
            if value is None:
                return ""
            if value is True:
                return true
            if value is False:
                return false
            return fallback(value)

    elif field_type is FieldType.DATETIME:
        fmt = _datetime_formatter(" ", "", fallback) if hr else _datetime_formatter("T", "Z", fallback)

    elif field_type is FieldType.IP:

        def fmt(value) -> str:
            if value is None:
                return ""
            if type(value) is str:
                return escape(value)
            return _ip_text(value)

        fmt.inline = _IPV4_INLINE

    elif field_type in (FieldType.DURATION, FieldType.BYTES, FieldType.PERCENT):  # hr
        human = {
            FieldType.DURATION: _human_duration,
            FieldType.BYTES: _human_bytes,
            FieldType.PERCENT: _human_percent,
        }[field_type]

        def fmt(value) -> str:
            if value is None:
                return ""
            if type(value) is int or type(value) is float or isinstance(value, Decimal):
                return human(value)
            return fallback(value)

    else:
        raise ValueError(f"no text rendering for type {field_type!r}")
    return fmt


def _json_formatter(field_type: FieldType) -> Formatter:
    """The formatter of a column's values as JSON texts (``null`` when absent)."""
    if field_type in (FieldType.STRING, FieldType.ENUM, FieldType.UID):

        def fmt(value) -> str:
            if type(value) is str:
                return _json_string(value)
            return _json_any(value)

        fmt.inline = "(J({v}) if {v}.__class__ is str else {f}({v}))"

    elif field_type is FieldType.LIST:

        def fmt(value) -> str:
            if type(value) is list:
                try:
                    return "[" + ",".join(map(_json_string, value)) + "]"
                except TypeError:  # non-text or NULL elements
                    pass
            return _json_any(value)

    elif field_type in (FieldType.INT, FieldType.ID, FieldType.DURATION, FieldType.BYTES):

        def fmt(value) -> str:
            if type(value) is int:
                return str(value)
            return _json_any(value)

        fmt.inline = _INT_INLINE

    elif field_type in (FieldType.REAL, FieldType.PERCENT):

        def fmt(value) -> str:
            if type(value) is float:
                return _float_json(value)
            if type(value) is int or isinstance(value, Decimal):
                return _float_json(float(value))
            return _json_any(value)

        fmt.inline = _FLOAT_INLINE

    elif field_type is FieldType.BOOL:

        def fmt(value) -> str:
            if value is True:
                return "true"
            if value is False:
                return "false"
            return _json_any(value)

    elif field_type is FieldType.DATETIME:
        fmt = _datetime_formatter("T", 'Z"', _json_any, quote='"', none="null")

    elif field_type is FieldType.IP:

        def fmt(value) -> str:
            if value is None:
                return "null"
            if type(value) is str:
                return _json_string(value)
            return f'"{_ip_text(value)}"'

        fmt.inline = _IPV4_JSON_INLINE

    else:
        raise ValueError(f"no JSON rendering for type {field_type!r}")
    return fmt


# ----------------------------------------------------------------------------------------------
# Escaping per format


def _csv_escape(text: str) -> str:
    """Quotes a CSV field holding a tab, a newline or a quote, inner quotes doubled."""
    if "\t" in text or "\n" in text or '"' in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


# Characters XML 1.0 forbids: controls other than tab/LF/CR, surrogates, U+FFFE and U+FFFF.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_SPECIAL = re.compile("[&<>\"\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_escape(text: str) -> str:
    if _XML_SPECIAL.search(text) is None:
        return text
    text = _XML_ILLEGAL.sub("", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


_HTML_SPECIAL = re.compile("[&<>\"']")


def _html_escape(text: str) -> str:
    if _HTML_SPECIAL.search(text) is None:
        return text
    return html.escape(text, quote=True)


# Texts that need no escaping, tested inline (see ``_INT_INLINE``).
_SAFE_TEXT_INLINE = {
    _csv_escape: (
        """({v} if {v}.__class__ is str and "\\t" not in {v} and "\\n" not in {v} and '"' not in {v}"""
        """ and "\\r" not in {v} else {f}({v}))"""
    ),
    _xml_escape: "({v} if {v}.__class__ is str and X({v}) is None else {f}({v}))",
    _html_escape: "({v} if {v}.__class__ is str and H({v}) is None else {f}({v}))",
}


# ----------------------------------------------------------------------------------------------
# Documents


def _row_function(template: str, formatters: Sequence[Formatter]) -> Callable[[Sequence], str]:
    """``row -> template % (f0(row[0]), f1(row[1]), ...)``, generated for the exact column count:
    unpacking, direct calls and the formatters' ``inline`` expressions (common values handled
    without a call) make it about twice as fast as a comprehension over ``zip``."""
    count = len(formatters)
    if count == 0:
        return lambda row: template
    helpers = {"T": template, "J": _json_string, "X": _XML_SPECIAL.search, "H": _HTML_SPECIAL.search,
               "N": _inet_ntoa, "A4": IPv4Address, "str": str, "repr": repr, "int": int, "float": float}
    expressions = []
    for index, formatter in enumerate(formatters):
        helpers[f"f{index}"] = formatter
        inline = getattr(formatter, "inline", "{f}({v})")
        expressions.append(inline.format(v=f"v{index}", f=f"f{index}"))
    values = "".join(f"v{i}, " for i in range(count))
    defaults = ", ".join(f"{name}={name}" for name in helpers)
    source = f"def row(r, {defaults}):\n    {values}= r\n    return T % ({', '.join(expressions)},)\n"
    namespace = dict(helpers)
    exec(source, namespace)  # generated names only; the template and functions are passed as values
    return namespace["row"]  # type: ignore[return-value]


def _percent_safe(text: str) -> str:
    return text.replace("%", "%%")


def _document(fmt: str, columns: Sequence[ResultColumn], hr: bool) -> tuple[str, Callable[[Sequence], str], str, int]:
    """(head, row function, tail, characters to drop from the first row)."""
    names = [column.name for column in columns]
    if fmt == "json":
        formatters = [_json_formatter(column.type) for column in columns]
        keys = [_percent_safe(_json_string(name)) for name in names]
        template = ",{" + ",".join(f"{key}:%s" for key in keys) + "}"
        return "[", _row_function(template, formatters), "]", 1
    if fmt == "csv":
        formatters = [_text_formatter(column.type, hr, _csv_escape) for column in columns]
        head = "\t".join(_csv_escape(name) for name in names) + "\n"
        template = "\t".join(["%s"] * len(columns)) + "\n"
        return head, _row_function(template, formatters), "", 0
    if fmt == "xml":
        formatters = [_text_formatter(column.type, hr, _xml_escape) for column in columns]
        head = (
            '<?xml version="1.0" encoding="UTF-8"?><table><header>'
            + "".join(f"<c>{_xml_escape(name)}</c>" for name in names)
            + "</header><body>"
        )
        template = "<r>" + "<c>%s</c>" * len(columns) + "</r>"
        return head, _row_function(template, formatters), "</body></table>", 0
    if fmt == "html":
        formatters = [_text_formatter(column.type, hr, _html_escape) for column in columns]
        head = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>NXQL result</title></head>'
            "<body><table><thead><tr>"
            + "".join(f"<th>{html.escape(name, quote=True)}</th>" for name in names)
            + "</tr></thead><tbody>"
        )
        template = "<tr>" + "<td>%s</td>" * len(columns) + "</tr>"
        return head, _row_function(template, formatters), "</tbody></table></body></html>", 0
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def render(fmt: str, columns: Sequence[ResultColumn], rows: Iterable[Sequence], *, hr: bool = False) -> Iterator[bytes]:
    """Yields the encoded (UTF-8) document in chunks of about ``CHUNK_SIZE`` bytes.

    The document always has its head (CSV header line, ``[``, the XML/HTML opening with the column
    names) even when there are no rows. ``hr`` is ignored for JSON. ``rows`` is consumed lazily, a
    batch at a time: memory does not grow with the number of rows. An unknown format raises
    ``ValueError`` at once (not at the first ``next``).
    """
    head, row_function, tail, skip = _document(fmt, columns, hr and fmt != "json")
    return _stream(head, row_function, iter(rows), tail, skip)


def _stream(head: str, row_function, rows: Iterator[Sequence], tail: str, skip: int) -> Iterator[bytes]:
    parts = [head]
    size = len(head)
    batch = 1  # rows per batch: one at first, then sized from the last batch to fill the chunk
    while True:
        text = "".join(map(row_function, islice(rows, batch)))
        if not text:  # every row renders to at least one character
            break
        if skip:
            text = text[skip:]
            skip = 0
        parts.append(text)
        size += len(text)
        if size >= CHUNK_SIZE:
            yield "".join(parts).encode("utf-8", "replace")
            parts.clear()
            size = 0
        # Enough rows, at the last batch's average length, to fill the current chunk.
        batch = max(1, min(_MAX_BATCH, (CHUNK_SIZE - size) * batch // len(text) + 1))
    if tail or parts:
        parts.append(tail)
        yield "".join(parts).encode("utf-8", "replace")


def error_page(message: str, options: Sequence[str] = ()) -> bytes:
    """The HTML error page (``nxql.md``, *Error page*): ``id="error_message"`` holds the message and,
    when there are alternatives, ``<ul id="error_options">`` lists them, one ``<li>`` each."""
    body = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Error</title></head><body>',
        '<h1>Error</h1><p id="error_message" style="white-space: pre-wrap">',
        html.escape(message, quote=True),
        "</p>",
    ]
    if options:
        body.append('<ul id="error_options">')
        body.extend(f"<li>{html.escape(option, quote=True)}</li>" for option in options)
        body.append("</ul>")
    body.append("</body></html>")
    return "".join(body).encode("utf-8", "replace")
