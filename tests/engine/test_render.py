"""Result rendering of the Web API V2 (nxql.md "Result formats", data-model.md "Types")."""

import json
import random
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from html.parser import HTMLParser
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface, ip_network
from zoneinfo import ZoneInfo

import pytest

from engine.query import render as render_module
from engine.query.render import (
    CHUNK_SIZE,
    CONTENT_TYPES,
    FORMATS,
    ResultColumn,
    error_page,
    format_human,
    format_text,
    render,
)
from engine.schema.types import FieldType as T


def rendered(fmt, columns, rows, hr=False) -> str:
    return b"".join(render(fmt, columns, rows, hr=hr)).decode("utf-8")


# A small fixture: every type that renders differently, and a row of absent values.
COLUMNS = [
    ResultColumn("name", T.STRING),
    ResultColumn("seen", T.DATETIME),
    ResultColumn("boot", T.DURATION),
    ResultColumn("ram", T.BYTES),
    ResultColumn("ip", T.IP),
    ResultColumn("ok", T.BOOL),
    ResultColumn("tags", T.LIST),
    ResultColumn("cpu", T.PERCENT),
]
ROWS = [
    (
        'a\tb "c"\nd',
        datetime(2024, 1, 31, 13, 45, 0, 999_999, tzinfo=UTC),
        12_400,
        1536,
        IPv4Address("10.1.2.3"),
        True,
        ["x", "y z"],
        0.85,
    ),
    ("plain", None, None, None, None, False, None, None),
    (None, datetime(2023, 12, 1, 0, 0, 5, tzinfo=UTC), 59_960, 4 * 1024**3, ip_interface("10.0.0.9/32"), None, [],
     0.0),
]
HEADER = "name\tseen\tboot\tram\tip\tok\ttags\tcpu\n"


class TestCsv:
    def test_exact(self):
        assert rendered("csv", COLUMNS, ROWS) == (
            HEADER
            + '"a\tb ""c""\nd"\t2024-01-31T13:45:00Z\t12400\t1536\t10.1.2.3\ttrue\tx, y z\t0.85\n'
            + "plain\t\t\t\t\tfalse\t\t\n"
            + "\t2023-12-01T00:00:05Z\t59960\t4294967296\t10.0.0.9\t\t\t0.0\n"
        )

    def test_exact_hr(self):
        assert rendered("csv", COLUMNS, ROWS, hr=True) == (
            HEADER
            + '"a\tb ""c""\nd"\t2024-01-31 13:45:00\t12.4 s\t1.5 KB\t10.1.2.3\tyes\tx, y z\t85.0 %\n'
            + "plain\t\t\t\t\tno\t\t\n"
            + "\t2023-12-01 00:00:05\t1 min 0 s\t4.0 GB\t10.0.0.9\t\t\t0.0 %\n"
        )

    def test_empty_is_header_only(self):
        assert rendered("csv", COLUMNS, []) == HEADER

    @pytest.mark.parametrize(("text", "field"), [
        ("tab\there", '"tab\there"'),
        ("new\nline", '"new\nline"'),
        ("carriage\rreturn", '"carriage\rreturn"'),
        ('say "hi"', '"say ""hi"""'),
        ("comma, semicolon; 'single'", "comma, semicolon; 'single'"),
        ("", ""),
    ])
    def test_quoting(self, text, field):
        assert rendered("csv", [ResultColumn("v", T.STRING)], [(text,)]) == f"v\n{field}\n"

    def test_header_names_are_quoted_like_values(self):
        columns = [ResultColumn('a"b', T.INT), ResultColumn("device/name", T.STRING)]
        assert rendered("csv", columns, [(1, "x")]) == '"a""b"\tdevice/name\n1\tx\n'

    def test_quoting_applies_to_joined_lists(self):
        assert rendered("csv", [ResultColumn("l", T.LIST)], [(["a\tb", "c"],)]) == 'l\n"a\tb, c"\n'

    def test_unicode_is_utf8(self):
        body = b"".join(render("csv", [ResultColumn("v", T.STRING)], [("Zürich ☃ 𝄞",)]))
        assert body == "v\nZürich ☃ 𝄞\n".encode()


class TestJson:
    def test_exact(self):
        assert rendered("json", COLUMNS, ROWS) == (
            '[{"name":"a\\tb \\"c\\"\\nd","seen":"2024-01-31T13:45:00Z","boot":12400,"ram":1536,'
            '"ip":"10.1.2.3","ok":true,"tags":["x","y z"],"cpu":0.85},'
            '{"name":"plain","seen":null,"boot":null,"ram":null,"ip":null,"ok":false,"tags":null,"cpu":null},'
            '{"name":null,"seen":"2023-12-01T00:00:05Z","boot":59960,"ram":4294967296,"ip":"10.0.0.9",'
            '"ok":null,"tags":[],"cpu":0.0}]'
        )

    def test_hr_is_ignored(self):
        assert rendered("json", COLUMNS, ROWS, hr=True) == rendered("json", COLUMNS, ROWS)

    def test_empty(self):
        assert rendered("json", COLUMNS, []) == "[]"

    def test_round_trips_types(self):
        parsed = json.loads(rendered("json", COLUMNS, ROWS))
        assert parsed[0] == {
            "name": 'a\tb "c"\nd', "seen": "2024-01-31T13:45:00Z", "boot": 12400, "ram": 1536,
            "ip": "10.1.2.3", "ok": True, "tags": ["x", "y z"], "cpu": 0.85,
        }
        assert type(parsed[0]["boot"]) is int and type(parsed[0]["cpu"]) is float
        assert parsed[1]["seen"] is None and parsed[1]["ok"] is False
        assert parsed[2]["tags"] == []

    def test_numbers(self):
        columns = [ResultColumn("i", T.INT), ResultColumn("r", T.REAL), ResultColumn("id", T.ID),
                   ResultColumn("n", T.INT), ResultColumn("avg", T.DURATION), ResultColumn("p", T.PERCENT)]
        rows = [(2**62, 2.0, 7, Decimal("12"), Decimal("1234.5"), 1)]
        text = rendered("json", columns, rows)
        assert text == '[{"i":4611686018427387904,"r":2.0,"id":7,"n":12,"avg":1234.5,"p":1.0}]'
        assert json.loads(text)[0]["i"] == 2**62

    def test_non_finite_reals_are_null(self):
        rows = [(float("nan"),), (float("inf"),), (Decimal("NaN"),)]
        assert json.loads(rendered("json", [ResultColumn("r", T.REAL)], rows)) == [{"r": None}] * 3

    def test_escaping_and_unicode(self):
        rows = [("</script>\u2028é\x01\\",)]
        text = rendered("json", [ResultColumn('we"ird\\%s', T.STRING)], rows)
        assert "é" in text  # not \u00e9
        assert json.loads(text) == [{'we"ird\\%s': "</script>\u2028é\x01\\"}]

    def test_list_with_null_and_non_text_elements(self):
        rows = [(["a", None],), ([1, 2.5],)]
        assert rendered("json", [ResultColumn("l", T.LIST)], rows) == '[{"l":["a",null]},{"l":[1,2.5]}]'

    def test_many_rows_parse(self):
        rows = [(i, f"n{i}") for i in range(10_000)]
        parsed = json.loads(rendered("json", [ResultColumn("id", T.ID), ResultColumn("name", T.STRING)], rows))
        assert parsed == [{"id": i, "name": f"n{i}"} for i in range(10_000)]


class TestXml:
    def test_exact(self):
        assert rendered("xml", COLUMNS, ROWS) == (
            '<?xml version="1.0" encoding="UTF-8"?><table><header>'
            "<c>name</c><c>seen</c><c>boot</c><c>ram</c><c>ip</c><c>ok</c><c>tags</c><c>cpu</c>"
            "</header><body>"
            '<r><c>a\tb &quot;c&quot;\nd</c><c>2024-01-31T13:45:00Z</c><c>12400</c><c>1536</c><c>10.1.2.3</c>'
            "<c>true</c><c>x, y z</c><c>0.85</c></r>"
            "<r><c>plain</c><c></c><c></c><c></c><c></c><c>false</c><c></c><c></c></r>"
            "<r><c></c><c>2023-12-01T00:00:05Z</c><c>59960</c><c>4294967296</c><c>10.0.0.9</c><c></c><c></c>"
            "<c>0.0</c></r>"
            "</body></table>"
        )

    def test_exact_hr(self):
        text = rendered("xml", COLUMNS, ROWS, hr=True)
        assert (
            '<r><c>a\tb &quot;c&quot;\nd</c><c>2024-01-31 13:45:00</c><c>12.4 s</c><c>1.5 KB</c><c>10.1.2.3</c>'
            "<c>yes</c><c>x, y z</c><c>85.0 %</c></r>"
            "<r><c>plain</c><c></c><c></c><c></c><c></c><c>no</c><c></c><c></c></r>"
            "<r><c></c><c>2023-12-01 00:00:05</c><c>1 min 0 s</c><c>4.0 GB</c><c>10.0.0.9</c><c></c><c></c>"
            "<c>0.0 %</c></r>"
        ) in text

    def test_empty(self):
        assert rendered("xml", [ResultColumn("a", T.INT), ResultColumn("b", T.STRING)], []) == (
            '<?xml version="1.0" encoding="UTF-8"?><table><header><c>a</c><c>b</c></header><body></body></table>'
        )

    def test_escaping(self):
        columns = [ResultColumn("<name>", T.STRING), ResultColumn("l", T.LIST)]
        rows = [('<script>alert("x&y")</script>', ["<a>", "b&c"])]
        text = rendered("xml", columns, rows)
        assert "<c>&lt;name&gt;</c>" in text
        assert "<c>&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;</c><c>&lt;a&gt;, b&amp;c</c>" in text
        assert "<script>" not in text

    def test_illegal_characters_are_removed(self):
        rows = [("a\x00b\x01c\x08d\x0be\x0cf\x1fg\ud800h\ufffei\uffffj\tk\nl\rm\x7fn",)]
        text = rendered("xml", [ResultColumn("v\x02", T.STRING)], rows)
        assert "<c>v</c>" in text
        assert "<c>abcdefghij\tk\nl&#13;m\x7fn</c>" in text
        root = ET.fromstring(text.encode())
        assert root.find("body/r/c").text == "abcdefghij\tk\nl\rm\x7fn"  # CR kept through the parser

    def test_parses_and_round_trips(self):
        root = ET.fromstring(rendered("xml", COLUMNS, ROWS).encode())
        assert [c.text for c in root.find("header")] == [c.name for c in COLUMNS]
        rows = root.findall("body/r")
        assert len(rows) == 3
        assert rows[0][0].text == 'a\tb "c"\nd'
        assert rows[1][1].text is None  # absent: empty element


class HtmlTable(HTMLParser):
    """Collects the cell texts of the one table of a result page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.cell, self.tags = [], None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


class TestHtml:
    HEAD = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>NXQL result</title></head>'
            "<body><table><thead><tr>")

    def test_exact(self):
        assert rendered("html", COLUMNS[:3], [r[:3] for r in ROWS]) == (
            self.HEAD
            + "<th>name</th><th>seen</th><th>boot</th></tr></thead><tbody>"
            + "<tr><td>a\tb &quot;c&quot;\nd</td><td>2024-01-31T13:45:00Z</td><td>12400</td></tr>"
            + "<tr><td>plain</td><td></td><td></td></tr>"
            + "<tr><td></td><td>2023-12-01T00:00:05Z</td><td>59960</td></tr>"
            + "</tbody></table></body></html>"
        )

    def test_exact_hr(self):
        assert rendered("html", COLUMNS[3:], [r[3:] for r in ROWS], hr=True) == (
            self.HEAD
            + "<th>ram</th><th>ip</th><th>ok</th><th>tags</th><th>cpu</th></tr></thead><tbody>"
            + "<tr><td>1.5 KB</td><td>10.1.2.3</td><td>yes</td><td>x, y z</td><td>85.0 %</td></tr>"
            + "<tr><td></td><td></td><td>no</td><td></td><td></td></tr>"
            + "<tr><td>4.0 GB</td><td>10.0.0.9</td><td></td><td></td><td>0.0 %</td></tr>"
            + "</tbody></table></body></html>"
        )

    def test_empty(self):
        assert rendered("html", [ResultColumn("a", T.INT)], []) == (
            self.HEAD + "<th>a</th></tr></thead><tbody></tbody></table></body></html>"
        )

    def test_escaping(self):
        columns = [ResultColumn("<b>name</b>", T.STRING), ResultColumn("l", T.LIST)]
        rows = [("<script>alert('x&y')</script>", ['"q"', "<i>"])]
        text = rendered("html", columns, rows)
        assert "<script>" not in text and "<i>" not in text and "<b>" not in text
        assert "<th>&lt;b&gt;name&lt;/b&gt;</th>" in text
        assert "<td>&lt;script&gt;alert(&#x27;x&amp;y&#x27;)&lt;/script&gt;</td>" in text
        table = HtmlTable()
        table.feed(text)
        assert table.rows == [["<b>name</b>", "l"], ["<script>alert('x&y')</script>", '"q", <i>']]

    def test_round_trips_through_a_parser(self):
        table = HtmlTable()
        table.feed(rendered("html", COLUMNS, ROWS, hr=True))
        assert table.rows[0] == [c.name for c in COLUMNS]
        assert table.rows[1][0] == 'a\tb "c"\nd'
        assert table.rows[3][2] == "1 min 0 s"


class TestValues:
    def test_datetimes(self):
        column = [ResultColumn("t", T.DATETIME)]
        rows = [
            (datetime(2024, 3, 10, 23, 59, 59, 999_999, tzinfo=UTC),),  # fractions dropped, not rounded
            (datetime(2024, 3, 11, 1, 30, tzinfo=timezone(timedelta(hours=2))),),  # shown in UTC
            (datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Zurich")),),
            (datetime(1969, 12, 31, 23, 59, 58, tzinfo=UTC),),
            (datetime(2024, 1, 2, 3, 4, 5),),  # naive: UTC
            (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),),
            (datetime(1, 1, 1, 0, 0, 0, tzinfo=UTC),),
        ]
        assert rendered("csv", column, rows).splitlines()[1:] == [
            "2024-03-10T23:59:59Z", "2024-03-10T23:30:00Z", "2024-07-01T10:00:00Z", "1969-12-31T23:59:58Z",
            "2024-01-02T03:04:05Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
        ]
        human = rendered("csv", column, rows, hr=True).splitlines()[1:3]
        assert human == ["2024-03-10 23:59:59", "2024-03-10 23:30:00"]
        assert json.loads(rendered("json", column, rows[:2])) == [{"t": "2024-03-10T23:59:59Z"},
                                                                 {"t": "2024-03-10T23:30:00Z"}]

    def test_datetimes_match_isoformat(self):
        rng = random.Random(7)
        values = [datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**9)) for _ in range(2000)]
        lines = rendered("csv", [ResultColumn("t", T.DATETIME)], [(v,) for v in values]).splitlines()[1:]
        assert lines == [v.strftime("%Y-%m-%dT%H:%M:%SZ") for v in values]

    def test_addresses(self):
        column = [ResultColumn("ip", T.IP)]
        rows = [(ip_address("192.168.0.1"),), (ip_interface("10.0.0.1/32"),), (ip_interface("10.1.0.0/16"),),
                (ip_network("10.2.0.0/16"),), (IPv6Address("2001:db8::1"),), (ip_interface("2001:db8::2/128"),),
                (ip_interface("2001:db8::/32"),), ("172.16.0.1",), (ip_address("0.0.0.0"),),
                (ip_address("255.255.255.255"),)]
        expected = ["192.168.0.1", "10.0.0.1", "10.1.0.0/16", "10.2.0.0/16", "2001:db8::1", "2001:db8::2",
                    "2001:db8::/32", "172.16.0.1", "0.0.0.0", "255.255.255.255"]
        assert rendered("csv", column, rows).splitlines()[1:] == expected
        assert [r["ip"] for r in json.loads(rendered("json", column, rows))] == expected

    def test_ipv4_text_matches_str(self):
        rng = random.Random(3)
        values = [IPv4Address(rng.randrange(2**32)) for _ in range(2000)]
        lines = rendered("csv", [ResultColumn("ip", T.IP)], [(v,) for v in values]).splitlines()[1:]
        assert lines == [str(v) for v in values]

    @pytest.mark.parametrize(("value", "field_type", "text"), [
        (0.5, T.REAL, "0.5"),
        (2.0, T.REAL, "2.0"),
        (1e-05, T.REAL, "1e-05"),
        (1e16, T.REAL, "1e+16"),
        (0.1 + 0.2, T.REAL, "0.30000000000000004"),
        (float("nan"), T.REAL, "NaN"),
        (float("-inf"), T.REAL, "-Infinity"),
        (Decimal("12.5"), T.REAL, "12.5"),
        (3, T.REAL, "3.0"),
        (0.85, T.PERCENT, "0.85"),
        (-42, T.INT, "-42"),
        (Decimal("120"), T.INT, "120"),  # sum(bigint) is numeric
        (Decimal("2.5"), T.INT, "2.5"),  # an average
        (7.0, T.DURATION, "7"),
        (9_223_372_036_854_775_807, T.ID, "9223372036854775807"),
        (True, T.BOOL, "true"),
        (False, T.BOOL, "false"),
        ("windows", T.ENUM, "windows"),
        ("6b8d1a4e-0000-4000-8000-000000000001", T.UID, "6b8d1a4e-0000-4000-8000-000000000001"),
        (["a", "b", "c"], T.LIST, "a, b, c"),
        (["a", None, "c"], T.LIST, "a, , c"),
        ([], T.LIST, ""),
        (date(2024, 1, 31), T.DATETIME, "2024-01-31"),
        (None, T.STRING, ""),
        (None, T.DURATION, ""),
    ])
    def test_text(self, value, field_type, text):
        assert format_text(value, field_type) == text

    @pytest.mark.parametrize("field_type", list(T))
    def test_absent_everywhere(self, field_type):
        column = [ResultColumn("v", field_type)]
        assert format_human(None, field_type) == ""
        assert rendered("csv", column, [(None,)], hr=True) == "v\n\n"
        assert rendered("json", column, [(None,)]) == '[{"v":null}]'
        assert rendered("xml", column, [(None,)]).endswith("<body><r><c></c></r></body></table>")
        assert rendered("html", column, [(None,)]).endswith("<tbody><tr><td></td></tr></tbody></table></body></html>")

    def test_unexpected_values_are_still_escaped(self):
        # A text in a numeric column (a programming error elsewhere) must not break the document.
        columns = [ResultColumn("n", T.INT), ResultColumn("t", T.DATETIME), ResultColumn("b", T.BOOL)]
        assert rendered("csv", columns, [("a\tb", "x\ny", 'q"')]) == 'n\tt\tb\n"a\tb"\t"x\ny"\t"q"""\n'
        assert "<c>&lt;x&gt;</c>" in rendered("xml", columns, [("<x>", 1, 2)])
        assert json.loads(rendered("json", columns, [("<x>", "y", 1)])) == [{"n": "<x>", "t": "y", "b": 1}]

    def test_percent_in_names_is_not_a_format_directive(self):
        columns = [ResultColumn("100%s", T.INT), ResultColumn("%d%%", T.STRING)]
        for fmt in FORMATS:
            text = rendered(fmt, columns, [(1, "%s")])
            assert "100%s" in text and "%d%%" in text

    def test_no_columns(self):
        assert rendered("csv", [], [(), ()]) == "\n\n\n"
        assert rendered("json", [], [(), ()]) == "[{},{}]"

    def test_unknown_format(self):
        with pytest.raises(ValueError, match="unknown format"):
            render("yaml", COLUMNS, [])

    def test_content_types(self):
        assert set(CONTENT_TYPES) == set(FORMATS)
        assert CONTENT_TYPES["csv"] == "text/csv; charset=utf-8"
        assert CONTENT_TYPES["json"] == "application/json"
        assert CONTENT_TYPES["xml"] == "application/xml"
        assert CONTENT_TYPES["html"] == "text/html; charset=utf-8"


class TestHumanReadable:
    @pytest.mark.parametrize(("ms", "text"), [
        (0, "0 ms"),
        (1, "1 ms"),
        (850, "850 ms"),
        (999, "999 ms"),
        (1000, "1.0 s"),
        (1049, "1.0 s"),
        (1050, "1.1 s"),  # half-up, not to even
        (1250, "1.3 s"),
        (12_400, "12.4 s"),
        (59_949, "59.9 s"),
        (59_950, "1 min 0 s"),  # 60.0 s is the next bracket
        (59_960, "1 min 0 s"),
        (59_999, "1 min 0 s"),
        (60_000, "1 min 0 s"),
        (180_000, "3 min 0 s"),  # zero parts kept
        (200_000, "3 min 20 s"),
        (200_499, "3 min 20 s"),
        (200_500, "3 min 21 s"),
        (119_500, "2 min 0 s"),  # 59.5 s carries into the minutes
        (3_599_499, "59 min 59 s"),
        (3_599_500, "1 h 0 min"),  # rounds into the next bracket
        (3_600_000, "1 h 0 min"),
        (7_500_000, "2 h 5 min"),
        (7_530_000, "2 h 6 min"),  # 125.5 min, half-up
        (86_369_999, "23 h 59 min"),
        (86_370_000, "1 d 0 h"),  # 1439.5 min -> 1440 min = 1 d
        (86_400_000, "1 d 0 h"),
        (273_600_000, "3 d 4 h"),
        (275_400_000, "3 d 5 h"),  # 76.5 h, half-up
        (10 * 365 * 86_400_000, "3650 d 0 h"),
        (-850, "-850 ms"),
        (-12_400, "-12.4 s"),
        (-59_960, "-1 min 0 s"),
        (-275_400_000, "-3 d 5 h"),  # the absolute value is rounded: symmetric
        (999.4, "999 ms"),
        (999.5, "1.0 s"),
        (Decimal("1234.5"), "1.2 s"),
        (Decimal("1250.0"), "1.3 s"),
        (-0.4, "0 ms"),  # no negative zero
    ])
    def test_durations(self, ms, text):
        assert format_human(ms, T.DURATION) == text

    @pytest.mark.parametrize(("size", "text"), [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (1075, "1.0 KB"),  # 1.0498 KB
        (1076, "1.1 KB"),  # 1.0508 KB
        (int(1023.94 * 1024), "1023.9 KB"),
        (int(1023.96 * 1024), "1.0 MB"),  # 1023.96 KB rounds to 1024.0 KB: shown in MB
        (1024**2 - 1, "1.0 MB"),
        (int(23.1 * 1024**2), "23.1 MB"),
        (int(23.15 * 1024**2) + 1, "23.2 MB"),
        (4 * 1024**3, "4.0 GB"),
        (1024**4 - 1, "1.0 TB"),
        (1024**4 * 3 // 2, "1.5 TB"),
        (1024**5, "1024.0 TB"),  # no unit above TB
        (-1536, "-1.5 KB"),
        (1023.5, "1.0 KB"),
        (1023.4, "1023 B"),
    ])
    def test_bytes(self, size, text):
        assert format_human(size, T.BYTES) == text

    def test_bytes_half_up_at_a_tie(self):
        assert format_human(1280, T.BYTES) == "1.3 KB"  # 1.25 KB: half-up, where half-to-even gives 1.2
        assert format_human(1024 * 2.45, T.BYTES) == "2.5 KB"  # 2.45 KB, a tie with a decimal input

    @pytest.mark.parametrize(("ratio", "text"), [
        (0.85, "85.0 %"),
        (0, "0.0 %"),
        (0.0, "0.0 %"),
        (1, "100.0 %"),
        (1.0, "100.0 %"),
        (0.123, "12.3 %"),
        (0.1235, "12.4 %"),  # half-up on the decimal shown, not the double's binary value
        (0.0125, "1.3 %"),
        (0.00049, "0.0 %"),
        (0.0005, "0.1 %"),
        (0.9995, "100.0 %"),
        (-0.25, "-25.0 %"),
        (-0.0004, "0.0 %"),  # no negative zero
        (Decimal("0.12345"), "12.3 %"),
        (2.5, "250.0 %"),
    ])
    def test_percent(self, ratio, text):
        assert format_human(ratio, T.PERCENT) == text

    @pytest.mark.parametrize(("value", "field_type", "text"), [
        (True, T.BOOL, "yes"),
        (False, T.BOOL, "no"),
        (datetime(2024, 1, 31, 13, 45, 7, 600_000, tzinfo=UTC), T.DATETIME, "2024-01-31 13:45:07"),
        (12_345, T.INT, "12345"),
        (12_345, T.ID, "12345"),
        (0.5, T.REAL, "0.5"),
        ("as is", T.STRING, "as is"),
        (["a", "b"], T.LIST, "a, b"),
        (ip_interface("10.0.0.1/32"), T.IP, "10.0.0.1"),
        (float("nan"), T.PERCENT, "NaN"),
        (float("inf"), T.DURATION, "Infinity"),
    ])
    def test_other_types(self, value, field_type, text):
        assert format_human(value, field_type) == text

    def test_json_never_human(self):
        column = [ResultColumn("d", T.DURATION), ResultColumn("b", T.BOOL)]
        assert rendered("json", column, [(59_960, True)], hr=True) == '[{"d":59960,"b":true}]'


class TestErrorPage:
    def test_message_and_options(self):
        page = error_page("unknown field 'nme' in table device at line 1, column 10", ["name", "<b>&"]).decode()
        assert page.startswith("<!DOCTYPE html>")
        assert ('id="error_message" style="white-space: pre-wrap">'
                "unknown field &#x27;nme&#x27; in table device at line 1, column 10</p>") in page
        assert '<ul id="error_options"><li>name</li><li>&lt;b&gt;&amp;</li></ul>' in page

    def test_without_options(self):
        page = error_page("<script>alert(1)</script>").decode()
        assert "error_options" not in page
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_parses(self):
        class Ids(HTMLParser):
            def __init__(self):
                super().__init__()
                self.found, self.current = {}, None

            def handle_starttag(self, tag, attrs):
                ident = dict(attrs).get("id")
                if ident:
                    self.current = ident
                    self.found[ident] = ""

            def handle_endtag(self, tag):
                if tag in ("p", "ul"):
                    self.current = None

            def handle_data(self, data):
                if self.current:
                    self.found[self.current] += data

        ids = Ids()
        ids.feed(error_page("a < b", ["x", "y"]).decode())
        assert ids.found == {"error_message": "a < b", "error_options": "xy"}


class TestStreaming:
    COLUMNS = [ResultColumn("id", T.ID), ResultColumn("name", T.STRING), ResultColumn("seen", T.DATETIME)]

    def rows(self, count, log):
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(count):
            log.append(i)
            yield i, f"device-{i}", start + timedelta(seconds=i)

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_lazy_chunks(self, fmt):
        pulled: list[int] = []
        chunks = render(fmt, self.COLUMNS, self.rows(200_000, pulled))
        assert pulled == []  # nothing is read before the first chunk is asked for
        first = next(chunks)
        assert 0 < len(pulled) < 20_000  # the first chunk came long before the rows ran out
        assert CHUNK_SIZE <= len(first) < 3 * CHUNK_SIZE
        rest = list(chunks)
        assert len(pulled) == 200_000
        assert len(rest) >= 10
        assert all(CHUNK_SIZE <= len(chunk) < 3 * CHUNK_SIZE for chunk in rest[:-1])
        body = first + b"".join(rest)
        if fmt == "json":
            parsed = json.loads(body)
            assert len(parsed) == 200_000 and parsed[-1]["name"] == "device-199999"
        elif fmt == "csv":
            assert body.count(b"\n") == 200_001
            assert body.endswith(b"199999\tdevice-199999\t2024-01-03T07:33:19Z\n")

    def test_same_document_whatever_the_chunking(self, monkeypatch):
        rows = [(i, f"n{i}\t", datetime(2024, 1, 1, tzinfo=UTC)) for i in range(3000)]
        whole = rendered("csv", self.COLUMNS, rows)
        monkeypatch.setattr(render_module, "CHUNK_SIZE", 100)
        chunks = list(render("csv", self.COLUMNS, rows))
        assert len(chunks) > 100
        assert b"".join(chunks).decode() == whole

    def test_wide_rows(self):
        rows = [("x" * 50_000,)] * 10
        chunks = list(render("csv", [ResultColumn("v", T.STRING)], rows))
        assert len(chunks) >= 5
        assert b"".join(chunks) == b"v\n" + (b"x" * 50_000 + b"\n") * 10

    def test_empty_yields_one_chunk(self):
        for fmt in FORMATS:
            assert len(list(render(fmt, self.COLUMNS, iter(())))) == 1


class TestHumanReadableAgainstTheRules:
    """The hr texts against a literal reading of data-model.md: each bracket rounds half-up at its
    precision, a value rounding up to the bracket's end goes to the next one."""

    @staticmethod
    def half_up(value: Decimal, step: str) -> Decimal:
        return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)

    def reference_duration(self, ms) -> str:
        with localcontext(Context(prec=100)):
            value = Decimal(ms)
            sign, value = ("-" if value < 0 else ""), abs(value)
            whole_ms = self.half_up(value, "1")
            if whole_ms < 1000:
                return f"{sign if whole_ms else ''}{whole_ms} ms"
            seconds = self.half_up(value / 1000, "0.1")
            if seconds < 60:
                return f"{sign}{seconds} s"
            seconds = int(self.half_up(value / 1000, "1"))
            if seconds < 3600:
                return f"{sign}{seconds // 60} min {seconds % 60} s"
            minutes = int(self.half_up(value / 60_000, "1"))
            if minutes < 1440:
                return f"{sign}{minutes // 60} h {minutes % 60} min"
            hours = int(self.half_up(value / 3_600_000, "1"))
            return f"{sign}{hours // 24} d {hours % 24} h"

    def reference_bytes(self, size) -> str:
        with localcontext(Context(prec=100)):
            value = Decimal(size)
            sign, value = ("-" if value < 0 else ""), abs(value)
            count = self.half_up(value, "1")
            if count < 1024:
                return f"{sign if count else ''}{count} B"
            for power, unit in enumerate(("KB", "MB", "GB", "TB"), 1):
                shown = self.half_up(value / 1024**power, "0.1")
                if shown < 1024 or unit == "TB":
                    return f"{sign}{shown} {unit}"
        raise AssertionError

    def test_durations(self):
        rng = random.Random(11)
        edges = [1000, 60_000, 3_600_000, 86_400_000]
        values = [rng.randrange(-10**12, 10**12) for _ in range(3000)]
        values += [rng.randrange(0, 10**k) for k in range(1, 12) for _ in range(300)]
        values += [edge + delta for edge in edges for delta in range(-700, 50)]
        values += [edge * m + delta for edge in edges for m in (2, 7, 59) for delta in (-501, -500, -499, 0, 499, 500)]
        for value in values:
            assert format_human(value, T.DURATION) == self.reference_duration(value), value

    def test_bytes(self):
        rng = random.Random(12)
        values = [rng.randrange(-(2**63), 2**63) for _ in range(3000)]
        values += [rng.randrange(0, 2**k) for k in range(1, 64) for _ in range(60)]
        for power in range(1, 5):
            edge = 1024**power
            values += [edge + delta for delta in range(-edge // 10000 - 60, 60, max(1, edge // 10**6))]
            values += [edge + delta for delta in range(-edge // 20480 - 60, -edge // 20480 + 60)]  # 1023.95 units
            values += [edge * m // 20 + delta for m in range(20, 41) for delta in (-1, 0, 1)]  # .x5 ties
        for value in values:
            assert format_human(value, T.BYTES) == self.reference_bytes(value), value

    def test_fractional_inputs(self):
        rng = random.Random(13)
        for _ in range(2000):
            value = Decimal(rng.randrange(-10**9, 10**9)) / 100
            assert format_human(value, T.DURATION) == self.reference_duration(value), value
            assert format_human(value, T.BYTES) == self.reference_bytes(value), value
            as_float = float(value)
            assert format_human(as_float, T.DURATION) == self.reference_duration(Decimal(repr(as_float)))
            assert format_human(as_float, T.BYTES) == self.reference_bytes(Decimal(repr(as_float)))
