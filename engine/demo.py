"""Demo data for the Engine (platform.md, "Demo data"): Engines, endpoint objects, activity, categories.

The fleet is built from the seed: devices in the portal's entities (``portal.demo.ENTITIES``), their
users, a catalogue of real-looking binaries, packages, destinations and domains, and ``ctx.days``
days of activity before ``ctx.end``. Activity follows working days: each device gets at most one
session per local date (Mon-Fri about 8:00-18:00 local time, a few short weekend sessions, some days
off), and every event lies in its session, inside ``[ctx.start, ctx.end)``.

Volume: about 230 event rows per device and working day, 165 averaged over a week (executions
60 %, connections 22 %, web requests 18 %, then a few device events, crashes and installations):
``--devices 10000 --days 7`` makes about 11.5 million rows. Rows are packed in binary COPY format
(pieces that do not change within a session are packed once) and bulk-loaded into the event
tables with their foreign keys and secondary indexes dropped, then restored (``BulkLoad``).
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.models import (
    Application,
    Binary,
    Category,
    CategoryAssignment,
    Connection,
    Crash,
    Destination,
    Device,
    DeviceEvent,
    Domain,
    EndUser,
    Engine,
    Execution,
    Installation,
    Keyword,
    Package,
    Port,
    SavedQuery,
    WebRequest,
)
from portal.demo import (
    ENTITIES,
    DemoContext,
    Prefetch,
    binary_row,
    bulk_load,
    copy_binary,
    copy_rows,
    int8_field,
    microseconds,
    text_field,
)

log = logging.getLogger(__name__)

OBJECT_MODELS = (Engine, EndUser, Device, Application, Binary, Package, Destination, Domain, Port,
                 Category, Keyword, CategoryAssignment)
EVENT_MODELS = (Execution, Crash, Connection, WebRequest, DeviceEvent, Installation)
RESET_TABLES: list[str] = [model._meta.db_table for model in OBJECT_MODELS + EVENT_MODELS]
RESET_TABLES.append(SavedQuery._meta.db_table)  # NQL exports go with them (TRUNCATE ... CASCADE)

MB = 1024 * 1024
GB = 1024 * MB
HOUR = 3600
# Quantiles of the exponential distribution (mean 1): EXP[int(random() * 4096)] draws one cheaply.
EXP = [-math.log(1 - (i + 0.5) / 4096) for i in range(4096)]
WRITE_EVERY = 600  # rows per COPY chunk (about 100 KB, below psycopg's 128 KB split)

# Events per hour of an active session, per platform (mobile devices report no binaries).
EXECUTIONS_PER_HOUR = {"windows": 18.0, "mac_os": 14.0}
CONNECTIONS_PER_HOUR = {"windows": 6.5, "mac_os": 5.0}
WEB_REQUESTS_PER_HOUR = {"windows": 5.0, "mac_os": 5.0}


# -- Catalogue ----------------------------------------------------------------------------------

ENGINES = (
    # name, description, continent served, status, timezone
    ("engine-1", "Europe: Lausanne, Zurich and Paris", "Europe", Engine.Status.CONNECTED, "Europe/Zurich"),
    ("engine-2", "America: Boston and Austin", "America", Engine.Status.CONNECTED, "America/New_York"),
    ("engine-3", "Spare appliance (offline)", None, Engine.Status.DISCONNECTED, "UTC"),
)

APPLICATIONS = (
    # name, company, description, category
    ("Microsoft Windows", "Microsoft Corporation", "Operating system components", "Operating System"),
    ("macOS", "Apple Inc.", "Operating system components", "Operating System"),
    ("Microsoft Defender Antivirus", "Microsoft Corporation", "Antimalware protection", "Security"),
    ("Microsoft Outlook", "Microsoft Corporation", "Email and calendar client", "Email"),
    ("Microsoft Teams", "Microsoft Corporation", "Chat, meetings and calls", "Collaboration"),
    ("Microsoft Excel", "Microsoft Corporation", "Spreadsheets", "Productivity"),
    ("Microsoft Word", "Microsoft Corporation", "Word processing", "Productivity"),
    ("Microsoft PowerPoint", "Microsoft Corporation", "Presentations", "Productivity"),
    ("Microsoft OneDrive", "Microsoft Corporation", "File synchronisation", "Collaboration"),
    ("Google Chrome", "Google LLC", "Web browser", "Web Browser"),
    ("Microsoft Edge", "Microsoft Corporation", "Web browser", "Web Browser"),
    ("Mozilla Firefox", "Mozilla Corporation", "Web browser", "Web Browser"),
    ("Safari", "Apple Inc.", "Web browser", "Web Browser"),
    ("Adobe Acrobat Reader", "Adobe Inc.", "PDF viewer", "Productivity"),
    ("Zoom Workplace", "Zoom Video Communications, Inc.", "Video meetings", "Collaboration"),
    ("Slack", "Slack Technologies, LLC", "Team messaging", "Collaboration"),
    ("Notepad++", "Notepad++ Team", "Text editor", "Development"),
    ("7-Zip", "Igor Pavlov", "File archiver", "Utilities"),
    ("Visual Studio Code", "Microsoft Corporation", "Code editor", "Development"),
    ("SAP GUI", "SAP SE", "SAP front end", "Business"),
    ("Contoso CRM", "Contoso Ltd.", "Customer relationship management client", "Business"),
    ("AnyDesk", "AnyDesk Software GmbH", "Remote desktop", "Remote Access"),
    ("uTorrent", "BitTorrent Inc.", "BitTorrent client", "File Sharing"),
)


@dataclass(frozen=True)
class BinarySpec:
    name: str
    application: str | None
    company: str
    description: str
    directory: str
    versions: tuple[str, ...]  # newest first
    size: int  # bytes of the newest version
    share: float  # share of the platform's devices that have it
    weight: int  # relative number of executions
    duration: int  # mean execution duration, seconds
    cpu: float  # CPU time / duration
    memory: int  # average working set, MB
    system: bool = False  # runs as the platform's system user
    crash: float = 0.0004  # crashes per execution
    threat: str = "none"
    connects: tuple[tuple[str, int, str, int], ...] = ()  # destination, port, protocol, weight
    browser: int = 0  # weight as the device's web browser


W_SYS32 = "C:\\Windows\\System32"
W_OFFICE = "C:\\Program Files\\Microsoft Office\\root\\Office16"
M365 = ("16.0.17531.20152", "16.0.17425.20236")
MAC365 = ("16.86", "16.85")

WINDOWS_BINARIES = (
    BinarySpec("svchost.exe", "Microsoft Windows", "Microsoft Corporation", "Host Process for Windows Services",
               W_SYS32, ("10.0.22621.3672", "10.0.19041.4355"), 57_360, 1, 26, 5 * HOUR, 0.01, 25,
               system=True, connects=(("dns1.example.com", 53, "udp", 10), ("time.windows.com", 123, "udp", 1),
                                      ("download.windowsupdate.com", 80, "tcp", 3),
                                      ("login.microsoftonline.com", 443, "tcp", 2))),
    BinarySpec("explorer.exe", "Microsoft Windows", "Microsoft Corporation", "Windows Explorer", "C:\\Windows",
               ("10.0.22621.3672", "10.0.19041.4355"), 5_173_200, 1, 3, 8 * HOUR, 0.005, 120,
               connects=(("fileserver.example.com", 445, "tcp", 4),)),
    BinarySpec("searchhost.exe", "Microsoft Windows", "Microsoft Corporation", "Search application",
               "C:\\Windows\\SystemApps\\MicrosoftWindows.Client.CBS_cw5n1h2txyewy",
               ("2124.5403.0.0",), 921_440, 1, 4, 1800, 0.02, 180),
    BinarySpec("runtimebroker.exe", "Microsoft Windows", "Microsoft Corporation", "Runtime Broker", W_SYS32,
               ("10.0.22621.3672", "10.0.19041.4355"), 123_904, 1, 6, 900, 0.005, 30),
    BinarySpec("msmpeng.exe", "Microsoft Defender Antivirus", "Microsoft Corporation",
               "Antimalware Service Executable",
               "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24050.7-0",
               ("4.18.24050.7", "4.18.24040.4"), 133_168, 1, 2, 8 * HOUR, 0.03, 250, system=True,
               connects=(("wdcp.microsoft.com", 443, "tcp", 2),)),
    BinarySpec("outlook.exe", "Microsoft Outlook", "Microsoft Corporation", "Microsoft Outlook", W_OFFICE,
               M365, 42_391_912, 0.97, 6, 3 * HOUR, 0.02, 380, crash=0.003,
               connects=(("outlook.office365.com", 443, "tcp", 14), ("login.microsoftonline.com", 443, "tcp", 2))),
    BinarySpec("teams.exe", "Microsoft Teams", "Microsoft Corporation", "Microsoft Teams",
               "C:\\Program Files\\WindowsApps\\MSTeams_24152.412.2958.916_x64__8wekyb3d8bbwe",
               ("24152.412.2958.916", "24124.2315.2911.3357"), 145_813_504, 0.98, 7, 3 * HOUR, 0.05, 520,
               crash=0.002, connects=(("teams.microsoft.com", 443, "tcp", 10),
                                      ("worldaz.tr.teams.microsoft.com", 3478, "udp", 3),
                                      ("login.microsoftonline.com", 443, "tcp", 1))),
    BinarySpec("excel.exe", "Microsoft Excel", "Microsoft Corporation", "Microsoft Excel", W_OFFICE, M365,
               61_302_632, 0.95, 7, 1500, 0.03, 210, crash=0.002),
    BinarySpec("winword.exe", "Microsoft Word", "Microsoft Corporation", "Microsoft Word", W_OFFICE, M365,
               2_012_544, 0.95, 6, 1200, 0.02, 170, crash=0.001),
    BinarySpec("powerpnt.exe", "Microsoft PowerPoint", "Microsoft Corporation", "Microsoft PowerPoint",
               W_OFFICE, M365, 1_842_112, 0.85, 2, 1500, 0.03, 230, crash=0.001),
    BinarySpec("onedrive.exe", "Microsoft OneDrive", "Microsoft Corporation", "Microsoft OneDrive",
               "C:\\Program Files\\Microsoft OneDrive", ("24.101.0519.0002", "24.086.0428.0003"), 3_412_848,
               0.9, 2, 6 * HOUR, 0.01, 90, connects=(("example-my.sharepoint.com", 443, "tcp", 5),)),
    BinarySpec("chrome.exe", "Google Chrome", "Google LLC", "Google Chrome",
               "C:\\Program Files\\Google\\Chrome\\Application", ("126.0.6478.127", "125.0.6422.142"),
               3_178_776, 0.8, 9, 1800, 0.04, 300, crash=0.001, browser=6,
               connects=(("www.google.com", 443, "tcp", 5), ("clients2.google.com", 443, "tcp", 1),
                         ("github.com", 443, "tcp", 1), ("intranet.example.com", 443, "tcp", 3))),
    BinarySpec("msedge.exe", "Microsoft Edge", "Microsoft Corporation", "Microsoft Edge",
               "C:\\Program Files (x86)\\Microsoft\\Edge\\Application", ("126.0.2592.87", "125.0.2535.92"),
               4_065_384, 1, 5, 1200, 0.04, 250, crash=0.001, browser=3,
               connects=(("www.bing.com", 443, "tcp", 2), ("intranet.example.com", 443, "tcp", 3))),
    BinarySpec("firefox.exe", "Mozilla Firefox", "Mozilla Corporation", "Firefox",
               "C:\\Program Files\\Mozilla Firefox", ("127.0.2", "127.0.1"), 677_864, 0.15, 4, 1800, 0.04, 280,
               crash=0.001, browser=4, connects=(("www.google.com", 443, "tcp", 3),
                                                 ("intranet.example.com", 443, "tcp", 2))),
    BinarySpec("acrord32.exe", "Adobe Acrobat Reader", "Adobe Inc.", "Adobe Acrobat",
               "C:\\Program Files\\Adobe\\Acrobat DC\\Acrobat", ("24.2.20857.0", "24.2.20759.0"), 4_712_232,
               0.7, 3, 400, 0.03, 150, crash=0.004),
    BinarySpec("zoom.exe", "Zoom Workplace", "Zoom Video Communications, Inc.", "Zoom Workplace",
               "C:\\Program Files\\Zoom\\bin", ("6.1.1.43316", "6.0.12.39813"), 438_616, 0.4, 3, 2400, 0.1, 280,
               crash=0.002, connects=(("zoom.us", 443, "tcp", 5),)),
    BinarySpec("slack.exe", "Slack", "Slack Technologies, LLC", "Slack", "C:\\Program Files\\Slack",
               ("4.39.90", "4.38.125"), 168_532_992, 0.3, 3, 4 * HOUR, 0.02, 350,
               connects=(("slack.com", 443, "tcp", 5),)),
    BinarySpec("notepad.exe", "Microsoft Windows", "Microsoft Corporation", "Notepad", W_SYS32,
               ("10.0.22621.3672", "10.0.19041.4355"), 201_216, 1, 3, 300, 0.01, 20),
    BinarySpec("notepad++.exe", "Notepad++", "Notepad++ Team", "Notepad++", "C:\\Program Files\\Notepad++",
               ("8.6.8", "8.6.7"), 6_312_760, 0.25, 3, 900, 0.01, 25),
    BinarySpec("7zfm.exe", "7-Zip", "Igor Pavlov", "7-Zip File Manager", "C:\\Program Files\\7-Zip",
               ("24.07", "23.01"), 1_002_496, 0.3, 1, 60, 0.2, 15),
    BinarySpec("code.exe", "Visual Studio Code", "Microsoft Corporation", "Visual Studio Code",
               "C:\\Program Files\\Microsoft VS Code", ("1.91.0", "1.90.2"), 159_745_560, 0.15, 4, HOUR, 0.03,
               400, connects=(("github.com", 443, "tcp", 3), ("marketplace.visualstudio.com", 443, "tcp", 1))),
    BinarySpec("mstsc.exe", "Microsoft Windows", "Microsoft Corporation", "Remote Desktop Connection", W_SYS32,
               ("10.0.22621.3672", "10.0.19041.4355"), 1_375_232, 0.2, 1, 1800, 0.02, 60,
               connects=(("jumphost.example.com", 3389, "tcp", 4),)),
    BinarySpec("powershell.exe", "Microsoft Windows", "Microsoft Corporation", "Windows PowerShell",
               W_SYS32 + "\\WindowsPowerShell\\v1.0", ("10.0.22621.3672", "10.0.19041.4355"), 455_680, 1, 2, 60,
               0.3, 70),
    BinarySpec("cmd.exe", "Microsoft Windows", "Microsoft Corporation", "Windows Command Processor", W_SYS32,
               ("10.0.22621.3672", "10.0.19041.4355"), 323_584, 1, 1, 30, 0.05, 5),
    BinarySpec("saplogon.exe", "SAP GUI", "SAP SE", "SAP Logon", "C:\\Program Files (x86)\\SAP\\FrontEnd\\SAPgui",
               ("8000.1.9.0",), 11_052_544, 0.2, 3, 2400, 0.02, 180, crash=0.004,
               connects=(("sap.example.com", 3200, "tcp", 5),)),
    BinarySpec("crmclient.exe", "Contoso CRM", "Contoso Ltd.", "Contoso CRM Client",
               "C:\\Program Files\\Contoso\\CRM", ("3.2.1.0", "3.1.4.0"), 24_117_248, 0.15, 3, 1200, 0.04, 260,
               crash=0.03, connects=(("legacy-crm.example.com", 8080, "tcp", 6),)),
    BinarySpec("anydesk.exe", "AnyDesk", "AnyDesk Software GmbH", "AnyDesk",
               "C:\\Program Files (x86)\\AnyDesk", ("8.0.11",), 5_294_472, 0.04, 1, 900, 0.05, 60, threat="low",
               connects=(("relay-1.net.anydesk.com", 443, "tcp", 3),)),
    BinarySpec("utorrent.exe", "uTorrent", "BitTorrent Inc.", "uTorrent",
               "C:\\Users\\Public\\AppData\\Roaming\\uTorrent", ("3.6.0.47008",), 2_183_872, 0.01, 2, 3 * HOUR,
               0.04, 120, threat="medium", connects=(("tracker.opentrackr.org", 1337, "udp", 6),)),
    BinarySpec("xmrig.exe", None, "", "", "C:\\Users\\Public\\Libraries", ("6.21.3",), 8_311_296, 0.004, 3,
               6 * HOUR, 0.9, 2300, threat="high", connects=(("pool.supportxmr.com", 3333, "tcp", 6),)),
)

MAC_BINARIES = (
    BinarySpec("Finder", "macOS", "Apple Inc.", "Finder", "/System/Library/CoreServices/Finder.app/Contents/MacOS",
               ("14.5", "13.6.7"), 3_712_320, 1, 4, 8 * HOUR, 0.005, 110,
               connects=(("fileserver.example.com", 445, "tcp", 3),)),
    BinarySpec("WindowServer", "macOS", "Apple Inc.", "WindowServer",
               "/System/Library/PrivateFrameworks/SkyLight.framework/Resources", ("14.5", "13.6.7"), 183_424, 1,
               3, 8 * HOUR, 0.05, 300, system=True),
    BinarySpec("mds_stores", "macOS", "Apple Inc.", "Spotlight indexer",
               "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Support",
               ("14.5", "13.6.7"), 812_064, 1, 4, 1200, 0.05, 60, system=True),
    BinarySpec("apsd", "macOS", "Apple Inc.", "Apple Push Service", "/System/Library/PrivateFrameworks/"
               "ApplePushService.framework", ("14.5", "13.6.7"), 1_009_472, 1, 2, 8 * HOUR, 0.002, 20,
               system=True, connects=(("courier.push.apple.com", 5223, "tcp", 4),)),
    BinarySpec("Microsoft Outlook", "Microsoft Outlook", "Microsoft Corporation", "Microsoft Outlook",
               "/Applications/Microsoft Outlook.app/Contents/MacOS", MAC365, 96_402_112, 0.95, 6, 3 * HOUR,
               0.02, 420, crash=0.003,
               connects=(("outlook.office365.com", 443, "tcp", 14), ("login.microsoftonline.com", 443, "tcp", 2))),
    BinarySpec("Microsoft Teams", "Microsoft Teams", "Microsoft Corporation", "Microsoft Teams",
               "/Applications/Microsoft Teams.app/Contents/MacOS", ("24152.405.2925.6762",), 1_046_016, 0.95, 7,
               3 * HOUR, 0.05, 560, crash=0.002, connects=(("teams.microsoft.com", 443, "tcp", 10),
                                                           ("worldaz.tr.teams.microsoft.com", 3478, "udp", 3))),
    BinarySpec("Microsoft Excel", "Microsoft Excel", "Microsoft Corporation", "Microsoft Excel",
               "/Applications/Microsoft Excel.app/Contents/MacOS", MAC365, 113_224_752, 0.9, 6, 1500, 0.03, 240),
    BinarySpec("Microsoft Word", "Microsoft Word", "Microsoft Corporation", "Microsoft Word",
               "/Applications/Microsoft Word.app/Contents/MacOS", MAC365, 118_652_320, 0.9, 5, 1200, 0.02, 200),
    BinarySpec("OneDrive", "Microsoft OneDrive", "Microsoft Corporation", "Microsoft OneDrive",
               "/Applications/OneDrive.app/Contents/MacOS", ("24.101.0519",), 41_231_360, 0.7, 2, 6 * HOUR, 0.01,
               110, connects=(("example-my.sharepoint.com", 443, "tcp", 5),)),
    BinarySpec("Google Chrome", "Google Chrome", "Google LLC", "Google Chrome",
               "/Applications/Google Chrome.app/Contents/MacOS", ("126.0.6478.127", "125.0.6422.142"), 193_152,
               0.6, 8, 1800, 0.04, 320, crash=0.001, browser=5,
               connects=(("www.google.com", 443, "tcp", 5), ("intranet.example.com", 443, "tcp", 3))),
    BinarySpec("Safari", "Safari", "Apple Inc.", "Safari", "/Applications/Safari.app/Contents/MacOS",
               ("17.5",), 64_048, 1, 5, 1500, 0.03, 260, browser=4,
               connects=(("www.google.com", 443, "tcp", 3), ("intranet.example.com", 443, "tcp", 3))),
    BinarySpec("Slack", "Slack", "Slack Technologies, LLC", "Slack", "/Applications/Slack.app/Contents/MacOS",
               ("4.39.90",), 175_504, 0.4, 3, 4 * HOUR, 0.02, 380, connects=(("slack.com", 443, "tcp", 5),)),
    BinarySpec("zoom.us", "Zoom Workplace", "Zoom Video Communications, Inc.", "Zoom Workplace",
               "/Applications/zoom.us.app/Contents/MacOS", ("6.1.1.36333",), 1_311_520, 0.45, 3, 2400, 0.1, 300,
               crash=0.002, connects=(("zoom.us", 443, "tcp", 5),)),
    BinarySpec("Electron", "Visual Studio Code", "Microsoft Corporation", "Visual Studio Code",
               "/Applications/Visual Studio Code.app/Contents/MacOS", ("1.91.0",), 340_144, 0.3, 4, HOUR, 0.03,
               420, connects=(("github.com", 443, "tcp", 3),)),
)

BINARY_CATALOGUE = {"windows": WINDOWS_BINARIES, "mac_os": MAC_BINARIES}
CRASH_CODES = {
    "windows": ("0xc0000005", "0xc0000005", "0xc0000409", "0xe0434352", "0x80000003", "0xc000041d"),
    "mac_os": ("EXC_BAD_ACCESS (SIGSEGV)", "EXC_BAD_ACCESS (SIGSEGV)", "EXC_CRASH (SIGABRT)",
               "EXC_BREAKPOINT (SIGTRAP)"),
}

# name, IP address, mean incoming KB per connection, mean response time (ms), share of failures
DESTINATIONS = (
    ("outlook.office365.com", "52.97.146.162", 180, 28, 0.015),
    ("login.microsoftonline.com", "20.190.160.20", 12, 30, 0.01),
    ("teams.microsoft.com", "52.113.194.132", 240, 26, 0.015),
    ("worldaz.tr.teams.microsoft.com", "52.115.223.42", 2400, 22, 0.03),
    ("example-my.sharepoint.com", "13.107.136.10", 900, 24, 0.015),
    ("www.google.com", "142.250.203.100", 90, 14, 0.01),
    ("clients2.google.com", "142.250.203.110", 20, 15, 0.01),
    ("www.bing.com", "13.107.21.200", 70, 18, 0.01),
    ("github.com", "140.82.121.4", 150, 35, 0.01),
    ("marketplace.visualstudio.com", "13.107.42.18", 400, 40, 0.02),
    ("zoom.us", "170.114.52.2", 1500, 31, 0.02),
    ("slack.com", "3.65.102.105", 60, 33, 0.015),
    ("intranet.example.com", "10.1.2.10", 120, 4, 0.02),
    ("fileserver.example.com", "10.1.5.20", 2200, 3, 0.02),
    ("dns1.example.com", "10.1.0.53", 1, 2, 0.01),
    ("time.windows.com", "168.61.215.74", 1, 45, 0.05),
    ("download.windowsupdate.com", "13.107.4.50", 5000, 20, 0.02),
    ("wdcp.microsoft.com", "20.42.65.85", 8, 38, 0.02),
    ("sap.example.com", "10.1.7.15", 80, 6, 0.02),
    ("legacy-crm.example.com", "10.1.9.40", 40, 120, 0.4),
    ("jumphost.example.com", "10.1.3.3", 3000, 5, 0.03),
    ("courier.push.apple.com", "17.57.146.20", 2, 40, 0.02),
    ("relay-1.net.anydesk.com", "195.181.174.17", 1200, 35, 0.05),
    ("tracker.opentrackr.org", "93.158.213.92", 3, 60, 0.3),
    ("pool.supportxmr.com", "141.94.96.144", 4, 50, 0.2),
)
FAILED_STATUSES = ("timeout", "timeout", "timeout", "timeout", "rejected", "rejected", "rejected",
                   "no_host", "no_host", "no_service")
PORTS = ((53, "udp"), (80, "tcp"), (123, "udp"), (443, "tcp"), (445, "tcp"), (1337, "udp"), (3200, "tcp"),
         (3333, "tcp"), (3389, "tcp"), (3478, "udp"), (5223, "tcp"), (8080, "tcp"))

# HTTP status shares in per mille: usual sites, then the two internal sites with more errors.
STATUS_USUAL = ((200, 865), (304, 50), (302, 20), (204, 15), (404, 25), (403, 8), (401, 5), (500, 8), (503, 4))
STATUS_INTRANET = ((200, 840), (304, 50), (302, 15), (204, 10), (404, 35), (403, 10), (401, 5), (500, 20),
                   (503, 15))
STATUS_LEGACY = ((200, 600), (302, 50), (404, 80), (500, 150), (503, 100), (502, 20))

# name, category, hosting country, weight, mean response time (ms), mean KB, statuses, protocol, paths
DOMAINS = (
    ("intranet.example.com", "Business", "Switzerland", 14, 180, 60, STATUS_INTRANET, "https",
     ("/", "/news", "/news/2024/q2-results", "/hr/leave-request", "/hr/benefits", "/it/servicedesk",
      "/it/vpn", "/search", "/api/v1/profile", "/directory")),
    ("jira.example.com", "Business", "Switzerland", 6, 320, 90, STATUS_INTRANET, "https",
     ("/secure/Dashboard.jspa", "/browse/OPS-1423", "/browse/IT-877", "/rest/api/2/search")),
    ("confluence.example.com", "Business", "Switzerland", 5, 380, 120, STATUS_INTRANET, "https",
     ("/display/IT/VPN", "/spaces/HR/overview", "/rest/api/content", "/pages/viewpage.action")),
    ("legacy-portal.example.com", "Business", "Switzerland", 1, 900, 40, STATUS_LEGACY, "http",
     ("/", "/login.asp", "/reports/monthly.asp")),
    ("outlook.office.com", "Email", "Ireland", 8, 150, 80, STATUS_USUAL, "https",
     ("/mail/", "/mail/inbox", "/calendar/view/week", "/owa/service.svc")),
    ("teams.microsoft.com", "Collaboration", "Netherlands", 4, 160, 70, STATUS_USUAL, "https",
     ("/", "/v2/", "/api/mt/part/emea-02/beta/users")),
    ("www.office.com", "Productivity", "Ireland", 3, 140, 110, STATUS_USUAL, "https", ("/", "/launch/excel")),
    ("login.microsoftonline.com", "Authentication", "Ireland", 4, 120, 15, STATUS_USUAL, "https",
     ("/common/oauth2/v2.0/authorize", "/common/login", "/kmsi")),
    ("example.sharepoint.com", "Collaboration", "Switzerland", 6, 260, 220, STATUS_USUAL, "https",
     ("/sites/intranet", "/sites/Finance/Shared%20Documents", "/sites/IT/SitePages/Home.aspx")),
    ("www.google.com", "Search Engines", "United States", 9, 90, 45, STATUS_USUAL, "https",
     ("/search", "/", "/maps")),
    ("github.com", "Software Development", "United States", 3, 210, 130, STATUS_USUAL, "https",
     ("/", "/example-org/platform/pulls", "/example-org/platform/issues/412")),
    ("stackoverflow.com", "Software Development", "United States", 2, 190, 140, STATUS_USUAL, "https",
     ("/questions", "/questions/tagged/python")),
    ("www.linkedin.com", "Social Networking", "United States", 3, 230, 160, STATUS_USUAL, "https",
     ("/feed/", "/jobs/", "/notifications/")),
    ("www.youtube.com", "Streaming Media", "United States", 2, 200, 900, STATUS_USUAL, "https",
     ("/", "/watch", "/results")),
    ("example.my.salesforce.com", "Business", "Germany", 4, 420, 150, STATUS_USUAL, "https",
     ("/lightning/page/home", "/lightning/o/Account/list", "/services/data/v60.0/query")),
    ("wd3.myworkday.com", "Business", "Ireland", 2, 480, 120, STATUS_USUAL, "https",
     ("/example/d/home.htmld", "/example/d/inst/13102!CK5mGhIKBggDEMenAhIICgYI1A0QlQE~*mkMRvsOvPM~/"
      "rel-task/2998$2151.htmld")),
    ("en.wikipedia.org", "Reference", "Netherlands", 2, 110, 70, STATUS_USUAL, "https",
     ("/wiki/Main_Page", "/wiki/Digital_employee_experience")),
    ("www.nzz.ch", "News", "Switzerland", 1, 170, 300, STATUS_USUAL, "https", ("/", "/wirtschaft")),
    ("www.lemonde.fr", "News", "France", 1, 180, 320, STATUS_USUAL, "https", ("/", "/economie/")),
    ("www.nytimes.com", "News", "United States", 1, 210, 350, STATUS_USUAL, "https",
     ("/", "/section/technology")),
)

# name, versions (newest first), publisher
PACKAGES = {
    "windows": (
        ("Microsoft 365 Apps for enterprise - en-us", M365, "Microsoft Corporation"),
        ("Microsoft Teams", ("24152.412.2958.916", "24124.2315.2911.3357"), "Microsoft Corporation"),
        ("Google Chrome", ("126.0.6478.127", "125.0.6422.142"), "Google LLC"),
        ("Microsoft Edge", ("126.0.2592.87",), "Microsoft Corporation"),
        ("Mozilla Firefox (x64 en-US)", ("127.0.2",), "Mozilla"),
        ("Zoom Workplace (64-bit)", ("6.1.1 (43316)", "6.0.12 (39813)"), "Zoom Video Communications, Inc."),
        ("Slack (Machine - MSI)", ("4.39.90",), "Slack Technologies Inc."),
        ("Adobe Acrobat (64-bit)", ("24.002.20857",), "Adobe"),
        ("Notepad++ (64-bit x64)", ("8.6.8",), "Notepad++ Team"),
        ("7-Zip 24.07 (x64)", ("24.07",), "Igor Pavlov"),
        ("Microsoft Visual Studio Code", ("1.91.0",), "Microsoft Corporation"),
        ("SAP GUI for Windows 8.00 (Patchlevel 9)", ("8.00.9",), "SAP SE"),
        ("Contoso CRM Client", ("3.2.1", "3.1.4"), "Contoso Ltd."),
        ("Windows Malicious Software Removal Tool x64 - v5.125 (KB890830)", ("5.125.24050.1",),
         "Microsoft Corporation"),
    ),
    "mac_os": (
        ("Microsoft Outlook", MAC365, "Microsoft Corporation"),
        ("Microsoft Teams", ("24152.405.2925.6762",), "Microsoft Corporation"),
        ("Microsoft Excel", MAC365, "Microsoft Corporation"),
        ("Microsoft Word", MAC365, "Microsoft Corporation"),
        ("Google Chrome", ("126.0.6478.127",), "Google LLC"),
        ("Slack", ("4.39.90",), "Slack Technologies Inc."),
        ("zoom.us", ("6.1.1 (36333)",), "Zoom Video Communications, Inc."),
        ("Visual Studio Code", ("1.91.0",), "Microsoft Corporation"),
    ),
    "mobile": (
        ("Microsoft Outlook", ("4.2424.0",), "Microsoft Corporation"),
        ("Microsoft Teams", ("6.12.1",), "Microsoft Corporation"),
    ),
}

# Hardware: (manufacturer, model, cpu models, logical cpus, RAM GB, disk GB choices)
HARDWARE = {
    ("windows", "laptop"): (
        ("Dell Inc.", "Latitude 7440", ("Intel(R) Core(TM) i7-1365U", "Intel(R) Core(TM) i5-1345U"), (12, 12),
         (16, 16, 32), (512, 512, 256)),
        ("LENOVO", "ThinkPad T14 Gen 4", ("AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics",), (16,), (16, 32),
         (512, 1024)),
        ("HP", "HP EliteBook 840 G10", ("Intel(R) Core(TM) i7-1355U", "Intel(R) Core(TM) i5-1335U"), (12,),
         (8, 16, 16), (256, 512)),
    ),
    ("windows", "desktop"): (
        ("Dell Inc.", "OptiPlex 7010", ("Intel(R) Core(TM) i7-13700", "Intel(R) Core(TM) i5-13500"), (24, 20),
         (16, 32), (512, 1024)),
        ("HP", "HP EliteDesk 800 G9 Desktop Mini PC", ("Intel(R) Core(TM) i5-12500T",), (12,), (8, 16),
         (256, 512)),
        ("LENOVO", "ThinkCentre M70q Gen 4", ("Intel(R) Core(TM) i5-13400T",), (16,), (16,), (512,)),
    ),
    ("windows", "virtual"): (
        ("VMware, Inc.", "VMware20,1", ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",), (4, 8), (8, 16),
         (128, 256)),
        ("Microsoft Corporation", "Virtual Machine", ("AMD EPYC 7763 64-Core Processor",), (4,), (8,), (128,)),
    ),
    ("mac_os", "laptop"): (
        ("Apple Inc.", "MacBook Pro (14-inch, 2023)", ("Apple M3 Pro", "Apple M2 Pro"), (12, 11), (18, 32),
         (512, 1024)),
        ("Apple Inc.", "MacBook Air (13-inch, M2, 2022)", ("Apple M2",), (8,), (8, 16), (256, 512)),
    ),
    ("mac_os", "desktop"): (
        ("Apple Inc.", "iMac (24-inch, 2023)", ("Apple M3",), (8,), (16,), (512,)),
        ("Apple Inc.", "Mac mini (2023)", ("Apple M2 Pro",), (10,), (16, 32), (512,)),
    ),
    ("mobile", "smartphone"): (
        ("Apple Inc.", "iPhone 15", ("Apple A16 Bionic",), (6,), (6,), (128, 256)),
        ("Apple Inc.", "iPhone 14", ("Apple A15 Bionic",), (6,), (6,), (128,)),
        ("Samsung", "Galaxy S23", ("Qualcomm Snapdragon 8 Gen 2",), (8,), (8,), (128, 256)),
    ),
}
OPERATING_SYSTEMS = {
    # platform: ((name, build, weight), ...)
    "windows": (("Windows 11 Enterprise 23H2 (64-bit)", "10.0.22631.3737", 60),
                ("Windows 11 Enterprise 22H2 (64-bit)", "10.0.22621.3737", 15),
                ("Windows 10 Enterprise 22H2 (64-bit)", "10.0.19045.4529", 25)),
    "mac_os": (("macOS Sonoma 14.5 (arm64)", "23F79", 70), ("macOS Ventura 13.6.7 (arm64)", "22G720", 30)),
    "apple_mobile": (("iOS 17.5.1", "21F90", 1),),
    "android": (("Android 14", "UP1A.231005.007", 1),),
}
MAC_PREFIXES = {"Dell Inc.": "A4:BB:6D", "LENOVO": "8C:16:45", "HP": "64:4E:D7", "VMware, Inc.": "00:50:56",
                "Microsoft Corporation": "00:15:5D", "Apple Inc.": "F0:18:98", "Samsung": "5C:CB:99"}

FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Mia", "Luca", "Sofia", "Leon", "Lea", "Elias", "Lina", "Louis", "Chloe",
    "Gabriel", "Manon", "Arthur", "Camille", "Jules", "Alice", "Hugo", "Laura", "Nicolas", "Sarah", "Thomas",
    "Julia", "David", "Anna", "Marco", "Elena", "Daniel", "Nina", "Samuel", "Eva", "Lukas", "Lara", "Jonas",
    "Zoe", "Matteo", "Sophie", "Adrian", "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer",
    "William", "Linda", "Richard", "Elizabeth", "Joseph", "Barbara", "Charles", "Susan", "Christopher",
    "Jessica", "Matthew", "Karen", "Anthony", "Nancy", "Mark", "Lisa", "Steven", "Betty", "Andrew", "Ashley",
    "Joshua", "Kimberly", "Kevin", "Emily", "Brian", "Michelle", "Ryan", "Amanda", "Jacob", "Melissa",
    "Ethan", "Rebecca", "Carlos", "Maria", "Diego", "Ana", "Priya", "Arjun", "Wei", "Mei", "Yuki", "Kenji",
    "Fatima", "Omar", "Aisha", "Ahmed", "Ingrid", "Lars", "Sven", "Astrid", "Pierre", "Claire", "Antoine",
)
LAST_NAMES = (
    "Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Meyer", "Steiner", "Fischer",
    "Gerber", "Brunner", "Baumann", "Frei", "Zimmermann", "Moser", "Widmer", "Wyss", "Graf", "Roth",
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
    "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Rodriguez", "Martinez", "Wilson",
    "Anderson", "Taylor", "Moore", "Jackson", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Wang", "Tanaka", "Rossi", "Russo", "Ferrari",
    "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Costa",
)
DEPARTMENTS = (
    # name, weight, job titles
    ("Sales", 18, ("Account Executive", "Sales Manager", "Key Account Manager", "Sales Representative")),
    ("Marketing", 8, ("Marketing Specialist", "Content Manager", "Product Marketing Manager")),
    ("Finance", 9, ("Accountant", "Financial Analyst", "Controller", "Payroll Specialist")),
    ("Human Resources", 5, ("HR Business Partner", "Recruiter", "HR Assistant")),
    ("Engineering", 20, ("Software Engineer", "Senior Software Engineer", "QA Engineer", "Engineering Manager")),
    ("IT", 7, ("Service Desk Analyst", "System Administrator", "Network Engineer", "IT Manager")),
    ("Operations", 12, ("Operations Analyst", "Logistics Coordinator", "Operations Manager")),
    ("Customer Support", 14, ("Support Engineer", "Customer Success Manager", "Support Team Lead")),
    ("Legal", 3, ("Legal Counsel", "Compliance Officer", "Paralegal")),
    ("Research & Development", 4, ("Research Scientist", "Data Scientist", "Lab Technician")),
)
SYSTEM_USERS = (
    # name, SID, platform
    ("NT AUTHORITY\\SYSTEM", "S-1-5-18", "windows"),
    ("NT AUTHORITY\\LOCAL SERVICE", "S-1-5-19", "windows"),
    ("NT AUTHORITY\\NETWORK SERVICE", "S-1-5-20", "windows"),
    ("root", "", "mac_os"),
)
CRITICALITY = (("high", 0.10), ("medium", 0.30), ("low", 0.35), (None, 0.25))


# -- Helpers ------------------------------------------------------------------------------------


def exact_shares(rng, n: int, shares: Sequence[tuple[object, float]]) -> list:
    """``n`` values in the given shares (largest remainders), shuffled: small fleets keep the shares."""
    counts = [int(n * share) for _, share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(n * shares[i][1] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    values = [value for (value, _), count in zip(shares, counts, strict=True) for _ in range(count)]
    rng.shuffle(values)
    return values


def weighted(rng, choices: Sequence[tuple]) -> tuple:
    """One of ``choices``, whose last item is its weight."""
    return rng.choices(choices, weights=[c[-1] for c in choices])[0]


def uid(rng) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def sha256_of(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


@dataclass
class Clock:
    """Times as whole seconds from ``origin`` (the window's start floored to the hour).

    In binary COPY a time is ``base_us + second * 1_000_000`` (microseconds since 2000-01-01).
    """

    start: datetime
    end: datetime
    origin: int = 0
    lo: int = 0  # first second of the window
    hi: int = 0  # first second after it
    base_us: int = 0

    def __post_init__(self) -> None:
        start = int(self.start.timestamp())
        self.origin = start - start % HOUR
        self.lo = start - self.origin
        self.hi = int(self.end.timestamp()) - self.origin
        self.base_us = microseconds(datetime.fromtimestamp(self.origin, UTC))

    def moment(self, second: int) -> datetime:
        return datetime.fromtimestamp(self.origin + second, UTC)


@dataclass
class DemoDevice:
    id: int
    name: str
    platform: str
    kind: str
    entity: int  # index in ENTITIES
    engine_id: int
    user: int  # primary user id
    second_user: int | None
    system_user: int | None
    disk_usage: float
    free_space: int
    binaries: list[int] = field(default_factory=list)  # binary row ids
    # filled by the schedule
    last_seen: int | None = None
    last_user: int | None = None
    last_boot: int | None = None
    last_boot_ms: int | None = None


@dataclass
class BinaryRow:
    id: int
    spec: BinarySpec
    platform: str
    version: str
    application_id: int | None
    path: str


# -- Seeder -------------------------------------------------------------------------------------


def seed(ctx: DemoContext) -> None:
    world = World(ctx)
    world.build()
    world.load_objects()
    world.load_activity()
    seed_saved_queries(ctx)


# Saved NQL queries of the demo (platform.md, "Demo data").
SAVED_QUERIES: tuple[tuple[str, str, str, str], ...] = (
    ("#all_devices", "All devices", "Every device with its collector, platform and entity.",
     "devices | list name, collector.uid, operating_system.platform, entity"),
    ("#devices_on_platform", "Devices on a platform", "The devices of one platform ($platform: windows, "
     "mac_os or mobile).",
     "devices | where operating_system.platform == $platform | list name, collector.uid"),
)


def seed_saved_queries(ctx: DemoContext) -> None:
    SavedQuery.objects.bulk_create(
        SavedQuery(nql_id=nql_id, name=name, description=description, text=text)
        for nql_id, name, description, text in SAVED_QUERIES
    )
    # The same seed gives the same rows: the time stamps are the end of the demo window.
    SavedQuery.objects.update(created=ctx.end, updated=ctx.end)
    ctx.add(SavedQuery._meta.db_table, len(SAVED_QUERIES))


class World:
    """The demo fleet: objects built in memory first, then the activity streamed to the database."""

    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.clock = Clock(ctx.start, ctx.end)
        self.entity_ids: dict[str, int] = ctx.ids["entities"]
        self.engines: list[tuple] = []
        self.users: list[tuple] = []
        self.devices: list[DemoDevice] = []
        self.hardware: list[tuple] = []  # per device: the columns that only the devices table needs
        self.applications: dict[str, int] = {}
        self.binaries: list[BinaryRow] = []
        self.binary_versions: dict[tuple[str, str], list[BinaryRow]] = {}
        self.packages: dict[str, list[tuple[int, str, str, str]]] = {}
        self.destinations: dict[str, int] = {}
        self.ports: dict[tuple[int, str], int] = {}
        self.domains: list[tuple] = []
        # per local date: (device index, start, end, user, boot or -1, boot ms, logged on in the window)
        self.sessions: list[list[tuple]] = []
        self.user_last_seen: dict[int, int] = {}

    # -- objects --------------------------------------------------------------------------------

    def build(self) -> None:
        self.build_engines()
        self.build_catalogue()
        self.build_devices_and_users()
        self.build_schedule()

    def build_engines(self) -> None:
        for number, (name, description, _continent, status, timezone) in enumerate(ENGINES, start=1):
            self.engines.append((
                number, name, description, self.ctx.hex("engine", name, "database"),
                self.ctx.hex("engine", name, "machine"), f"{name}.localhost", 443, status, timezone, "6.30.0",
            ))
        self.ctx.ids["engines"] = {row[1]: row[0] for row in self.engines}

    def build_catalogue(self) -> None:
        ctx = self.ctx
        self.applications = {app[0]: i for i, app in enumerate(APPLICATIONS, start=1)}
        for platform, specs in BINARY_CATALOGUE.items():
            for spec in specs:
                for version in spec.versions:
                    row = BinaryRow(len(self.binaries) + 1, spec, platform, version,
                                    self.applications.get(spec.application) if spec.application else None,
                                    f"{spec.directory}{'/' if platform == 'mac_os' else chr(92)}{spec.name}")
                    self.binaries.append(row)
                    self.binary_versions.setdefault((platform, spec.name), []).append(row)
        package_id = 0
        for platform, specs in PACKAGES.items():
            rows = self.packages.setdefault(platform, [])
            for name, versions, publisher in specs:
                for version in versions:
                    package_id += 1
                    rows.append((package_id, name, version, publisher))
        self.destinations = {d[0]: i for i, d in enumerate(DESTINATIONS, start=1)}
        self.ports = {p: i for i, p in enumerate(PORTS, start=1)}
        self.domains = list(DOMAINS)
        ctx.ids["binaries"] = len(self.binaries)

    def build_devices_and_users(self) -> None:
        ctx = self.ctx
        n = ctx.devices
        rng = ctx.rng("devices")
        platforms = exact_shares(rng, n, [("windows", 0.70), ("mac_os", 0.25), ("mobile", 0.05)])
        entities = exact_shares(rng, n, [(i, e.share) for i, e in enumerate(ENTITIES)])
        engine_of = {continent: number for number, (_, _, continent, _, _) in enumerate(ENGINES, start=1)}

        # System users first (ids 1..4), then each device's primary user and, for some, a second one.
        for name, sid, _platform in SYSTEM_USERS:
            self.users.append((len(self.users) + 1, name, uid(rng), sid, "", "", "", "system"))
        system_user = {"windows": 1, "mac_os": 4}  # NT AUTHORITY\SYSTEM, root
        domain_sid = "S-1-5-21-{}-{}-{}".format(*(rng.randrange(10**9, 4 * 10**9) for _ in range(3)))
        taken: set[str] = set()
        departments = [(d[0], d[2], d[1]) for d in DEPARTMENTS]

        def new_user() -> int:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            base = f"{first}.{last}".lower().replace("ü", "ue").replace(" ", "")
            login, k = base, 1
            while login in taken:
                k += 1
                login = f"{base}{k}"
            taken.add(login)
            department, titles, _weight = weighted(rng, departments)
            user_id = len(self.users) + 1
            self.users.append((user_id, f"{login}@example.com", uid(rng), f"{domain_sid}-{1100 + user_id}",
                               f"{first} {last}", department, rng.choice(titles), "domain"))
            return user_id

        serial_chars = "BCDFGHJKLMNPQRSTVWXYZ0123456789"
        counters = [0] * len(ENTITIES)
        hardware_rows = []
        for index in range(n):
            platform, entity_index = platforms[index], entities[index]
            entity = ENTITIES[entity_index]
            if platform == "windows":
                kind = weighted(rng, (("laptop", 65), ("desktop", 30), ("virtual", 5)))[0]
                code = {"laptop": "LT", "desktop": "DT", "virtual": "VM"}[kind]
                os_name, os_build, _ = weighted(rng, OPERATING_SYSTEMS["windows"])
            elif platform == "mac_os":
                kind = weighted(rng, (("laptop", 85), ("desktop", 15)))[0]
                code = "MAC"
                os_name, os_build, _ = weighted(rng, OPERATING_SYSTEMS["mac_os"])
            else:
                kind, code = "smartphone", "MOB"
                os_name, os_build = "", ""
            manufacturer, model, cpus, ncpus, rams, disks = rng.choice(HARDWARE[(platform, kind)])
            if platform == "mobile":
                os_name, os_build, _ = OPERATING_SYSTEMS["apple_mobile" if manufacturer == "Apple Inc."
                                                         else "android"][0]
            primary = new_user()
            second = new_user() if platform != "mobile" and rng.random() < 0.2 else None
            usage = min(0.97, max(0.12, rng.gauss(0.62, 0.17)))
            capacity = int(rng.choice(disks) * 1e9 * 0.93)
            free = int(capacity * (1 - usage))
            counters[entity_index] += 1
            k = counters[entity_index]
            ip = f"10.{entity.subnet}.{(k // 250) % 256}.{k % 250 + 2}"
            if manufacturer == "Dell Inc.":
                serial = "".join(rng.choice(serial_chars) for _ in range(7))
            elif manufacturer == "LENOVO":
                serial = "PF" + "".join(rng.choice(serial_chars) for _ in range(6))
            elif manufacturer == "HP":
                serial = "5CG" + "".join(rng.choice(serial_chars) for _ in range(7))
            elif manufacturer == "Apple Inc.":
                serial = "".join(rng.choice(serial_chars) for _ in range(10))
            elif manufacturer == "VMware, Inc.":
                serial = "VMware-" + " ".join(f"{rng.getrandbits(8):02x}" for _ in range(8))
            else:
                serial = "".join(rng.choice("0123456789") for _ in range(4)) + "-" + "".join(
                    rng.choice("0123456789") for _ in range(4)) + "-" + "".join(
                    rng.choice("0123456789") for _ in range(4))
            prefix = MAC_PREFIXES[manufacturer]
            nics = 2 if kind == "laptop" and platform == "windows" else 1
            macs = ", ".join(prefix + "".join(f":{rng.getrandbits(8):02X}" for _ in range(3)) for _ in range(nics))
            device = DemoDevice(
                id=index + 1, name=f"{entity.code}-{code}-{index + 1:05d}", platform=platform, kind=kind,
                entity=entity_index, engine_id=engine_of[entity.continent], user=primary, second_user=second,
                system_user=system_user.get(platform), disk_usage=usage, free_space=free,
            )
            for spec in BINARY_CATALOGUE.get(platform, ()):
                if spec.share >= 1 or rng.random() < spec.share:
                    versions = self.binary_versions[(platform, spec.name)]
                    row = versions[0] if len(versions) == 1 or rng.random() < 0.85 else rng.choice(versions[1:])
                    device.binaries.append(row.id)
            self.devices.append(device)
            hardware_rows.append((
                ctx.hex("device", index), uid(rng), os_name, os_build, manufacturer, model, serial,
                rng.choice(rams) * GB, rng.choice(ncpus), rng.choice(cpus), capacity, free, round(usage, 4), ip,
                macs, rng.randrange(30, 1000),
            ))
        self.hardware = hardware_rows
        ctx.ids["devices"] = [(d.id, d.name, d.platform, d.engine_id) for d in self.devices]

    def build_schedule(self) -> None:
        """One session per device and local date: when it is on, who uses it, whether it booted."""
        rng = self.ctx.rng("schedule")
        rnd = rng.random
        clock = self.clock
        lo, lim = clock.lo, clock.hi - 1
        first = (self.ctx.start - timedelta(days=1)).date()
        dates = [first + timedelta(days=i) for i in range((self.ctx.end.date() - first).days + 1)]
        zones = [ZoneInfo(e.timezone) for e in ENTITIES]
        for day in dates:
            midnight = calendar.timegm(day.timetuple()) - clock.origin
            local_midnight = [
                midnight - int(datetime(day.year, day.month, day.day, 12, tzinfo=zone).utcoffset().total_seconds())
                for zone in zones
            ]
            weekend = day.weekday() >= 5
            todays = []
            for index, device in enumerate(self.devices):
                base = local_midnight[device.entity]
                if device.platform == "mobile":
                    if rnd() > 0.9:
                        continue
                    start = base + int((7 + 2 * rnd()) * HOUR)
                    end = base + int((20 + 3 * rnd()) * HOUR)
                    boot_chance = 0.05
                elif weekend:
                    if rnd() > 0.06:
                        continue
                    start = base + int((9 + 8 * rnd()) * HOUR)
                    end = start + int((0.5 + 2.5 * rnd()) * HOUR)
                    boot_chance = 0.8
                else:
                    if rnd() < 0.07:
                        continue
                    start = base + int((7.5 + 1.75 * rnd()) * HOUR)
                    end = base + int((16.5 + 2.25 * rnd()) * HOUR)
                    boot_chance = {"laptop": 0.75 if device.platform == "windows" else 0.15,
                                   "desktop": 0.25 if device.platform == "windows" else 0.1,
                                   "virtual": 0.5}[device.kind]
                user = device.second_user if device.second_user and rnd() < 0.3 else device.user
                boot_ms = int(({"windows": 28_000, "mac_os": 18_000, "mobile": 22_000}[device.platform]
                               + (15_000 if device.kind == "laptop" else 0)) * (0.6 + EXP[int(rnd() * 4096)] * 0.5))
                boot = start - boot_ms // 1000 - int(30 + 240 * rnd()) if rnd() < boot_chance else -1
                logon = start >= lo  # a session that began before the window logged on before it too
                start, end = max(start, lo), min(end, lim)
                if end - start < 120:
                    continue
                if boot < lo:
                    boot = -1
                todays.append((index, start, end, user, boot, boot_ms, logon))
                device.last_seen, device.last_user = end, user
                if boot >= 0:
                    device.last_boot, device.last_boot_ms = boot, boot_ms
                if end > self.user_last_seen.get(user, -1):
                    self.user_last_seen[user] = end
            self.sessions.append(todays)

    def load_objects(self) -> None:
        ctx, clock = self.ctx, self.clock
        rng = ctx.rng("objects")
        start = ctx.start
        copy_rows(ctx, Engine._meta.db_table,
                  ("id", "name", "description", "database_uid", "machine_id", "address", "port", "status",
                   "timezone", "version"), self.engines)

        def seen(second: int | None, fallback_days: float) -> datetime:
            if second is None:
                return start - timedelta(days=fallback_days)
            return clock.moment(second)

        users = []
        for user_id, name, user_uid, sid, full_name, department, title, user_type in self.users:
            first_seen = start - timedelta(days=rng.randrange(20, 900), seconds=rng.randrange(86400))
            last = self.user_last_seen.get(user_id)
            last_seen = seen(last, rng.uniform(1, 20)) if user_type == "domain" else ctx.end - timedelta(minutes=5)
            users.append((user_id, name, user_uid, sid, full_name, department, title, user_type, first_seen,
                          last_seen))
        copy_rows(ctx, EndUser._meta.db_table,
                  ("id", "name", "user_uid", "sid", "full_name", "department", "job_title", "user_type",
                   "first_seen", "last_seen"), users)
        user_names = {u[0]: u[1] for u in self.users}

        devices = []
        for device, hw in zip(self.devices, self.hardware, strict=True):
            (device_uid, collector_uid, os_name, os_build, manufacturer, model, serial, ram, ncpu, cpu, capacity,
             free, usage, ip, macs, age_days) = hw
            if device.last_boot is None:
                device.last_boot_ms = int(30_000 * (0.6 + rng.random()))
                last_boot = start - timedelta(hours=rng.uniform(2, 120))
            else:
                last_boot = clock.moment(device.last_boot)
            devices.append((
                device.id, device.name, device_uid, collector_uid, device.engine_id,
                self.entity_ids[ENTITIES[device.entity].name], device.platform, os_name, os_build, device.kind,
                manufacturer, model, serial, ram, ncpu, cpu, capacity, free, usage, ip, macs,
                start - timedelta(days=age_days, seconds=rng.randrange(86400)),
                seen(device.last_seen, rng.uniform(1, 30)), last_boot, device.last_boot_ms,
                user_names[device.last_user or device.user],
            ))
        copy_rows(ctx, Device._meta.db_table,
                  ("id", "name", "device_uid", "collector_uid", "engine_id", "entity_id", "platform",
                   "os_version_and_architecture", "os_build", "device_type", "device_manufacturer", "device_model",
                   "device_serial_number", "total_ram", "number_of_cpus", "cpu_model", "system_drive_capacity",
                   "system_drive_free_space", "system_drive_usage", "last_ip_address", "mac_addresses",
                   "first_seen", "last_seen", "last_system_boot", "last_boot_duration", "last_logged_on_user"),
                  devices)

        copy_rows(ctx, Application._meta.db_table, ("id", "name", "company", "description", "category"),
                  [(i, *app) for i, app in enumerate(APPLICATIONS, start=1)])
        binaries = []
        for row in self.binaries:
            spec = row.spec
            newest = row.version == spec.versions[0]
            size = spec.size if newest else int(spec.size * (0.97 + 0.02 * (row.id % 3)))
            first_seen = start - timedelta(days=(20 if newest else 120) + row.id % 40)
            binaries.append((
                row.id, spec.name, spec.name, row.version, row.application_id, spec.company, spec.description,
                spec.threat, size, sha256_of(row.platform, spec.name, row.version, size), row.platform,
                first_seen, ctx.end - timedelta(minutes=1 + row.id % 50),
            ))
        copy_rows(ctx, Binary._meta.db_table,
                  ("id", "name", "executable_name", "version", "application_id", "company", "description",
                   "threat_level", "size", "sha256", "platform", "first_seen", "last_seen"), binaries)
        packages = [
            (package_id, name, version, publisher, platform,
             start - timedelta(days=(10 if version == PACKAGE_NEWEST[(platform, name)] else 90) + package_id % 30))
            for platform, rows in self.packages.items() for package_id, name, version, publisher in rows
        ]
        copy_rows(ctx, Package._meta.db_table, ("id", "name", "version", "publisher", "platform", "first_seen"),
                  sorted(packages))
        copy_rows(ctx, Destination._meta.db_table, ("id", "name", "ip_address"),
                  [(i, d[0], d[1]) for i, d in enumerate(DESTINATIONS, start=1)])
        copy_rows(ctx, Domain._meta.db_table, ("id", "name", "category", "hosting_country"),
                  [(i, d[0], d[1], d[2]) for i, d in enumerate(DOMAINS, start=1)])
        copy_rows(ctx, Port._meta.db_table, ("id", "port_number", "protocol"),
                  [(i, *p) for i, p in enumerate(PORTS, start=1)])
        self.load_categories()

    def load_categories(self) -> None:
        ctx = self.ctx
        copy_rows(ctx, Category._meta.db_table, ("id", "name", "object_table", "description"), [
            (1, "Location", "device", "The city of the device's site."),
            (2, "Criticality", "device", "How much the business depends on the device."),
        ])
        keywords = [(i, 1, e.name) for i, e in enumerate(ENTITIES, start=1)]
        keywords += [(len(ENTITIES) + i, 2, name) for i, (name, _) in enumerate(CRITICALITY[:3], start=1)]
        copy_rows(ctx, Keyword._meta.db_table, ("id", "category_id", "name"), keywords)
        criticality_keyword = {name: kid for kid, category, name in keywords if category == 2}
        criticality = exact_shares(ctx.rng("criticality"), len(self.devices), CRITICALITY)
        assignments = [(1, device.entity + 1, device.id) for device in self.devices]
        assignments += [(2, criticality_keyword[level], device.id)
                        for device, level in zip(self.devices, criticality, strict=True) if level]
        copy_rows(ctx, CategoryAssignment._meta.db_table, ("id", "category_id", "keyword_id", "object_id"),
                  [(i, *a) for i, a in enumerate(assignments, start=1)])

    # -- activity -------------------------------------------------------------------------------
    #
    # Each event table comes from a generator of (packed rows, row count, sessions done) chunks in
    # binary COPY format (see portal.demo). The tables are loaded one after the other; while the
    # server builds the indexes and checks the foreign keys of one table, a thread already
    # generates the next one (Prefetch). Line pieces that do not change within a session (device,
    # user, binary, path...) are packed once per session, the rest with one struct call per row.

    def load_activity(self) -> None:
        crashes: list[bytes] = []
        steps: list[tuple[type, Sequence[tuple[str, str]], str, Callable[[], Iterator[Chunk]]]] = [
            (Execution, EXECUTION_COLUMNS, "executions", lambda: self.executions(crashes)),
            (Connection, CONNECTION_COLUMNS, "connections", self.connections),
            (WebRequest, WEB_REQUEST_COLUMNS, "web requests", self.web_requests),
            (DeviceEvent, DEVICE_EVENT_COLUMNS, "device events", self.device_events),
            (Installation, INSTALLATION_COLUMNS, "installations", self.installations),
            (Crash, CRASH_COLUMNS, "crashes", lambda: in_chunks(crashes)),
        ]
        with bulk_load([model._meta.db_table for model, *_ in steps]) as load:
            chunks: Iterator[Chunk] | None = steps[0][3]()
            for i, (model, columns, title, _make) in enumerate(steps):
                table = model._meta.db_table
                self.copy_chunks(table, columns, title, chunks)
                ahead = Prefetch(steps[i + 1][3]()) if i + 1 < len(steps) else None
                try:
                    load.restore(table)
                except BaseException:
                    if ahead:
                        ahead.cancel()
                    raise
                chunks = ahead.take() if ahead else None

    def copy_chunks(self, table: str, columns: Sequence[tuple[str, str]], title: str,
                    chunks: Iterator[Chunk]) -> None:
        bar = self.ctx.progress(title, 0 if table == Crash._meta.db_table else self.session_count)
        started = time.perf_counter()
        total = 0
        try:
            with copy_binary(self.ctx, table, columns) as write:
                for data, rows, done in chunks:
                    write(data)
                    total += rows
                    bar.update(done)
        finally:
            bar.close()
        log.debug("%s: %d rows copied in %.2f s", table, total, time.perf_counter() - started)
        self.ctx.add(table, total, events=True)

    @property
    def session_count(self) -> int:
        return sum(len(sessions) for sessions in self.sessions)

    def executions(self, crashes: list[bytes]) -> Iterator[Chunk]:
        """Executions of the device's binaries during each session; fills ``crashes`` on the way."""
        clock, devices = self.clock, self.devices
        rng = self.ctx.rng("executions")
        rnd, choice = rng.random, rng.choice
        base, lim = clock.base_us, clock.hi - 1
        head = struct.Struct("!hiqiqiq").pack  # 11 fields: device, user, binary (then the path)
        pack = struct.Struct("!iqiqiqiqiqiqii").pack  # id, start, end, duration, cpu, memory, crashes
        binaries = {row.id: row for row in self.binaries}
        codes = {platform: [text_field(c) for c in values] for platform, values in CRASH_CODES.items()}
        kinds_of: dict[int, list[tuple]] = {}

        def kinds(device: DemoDevice) -> list[tuple]:
            """(binary id, path field, mean ms, cpu share, memory, crash rate, system, weight)."""
            found = kinds_of.get(device.id)
            if found is None:
                found = kinds_of[device.id] = []
                for binary_id in device.binaries:
                    row = binaries[binary_id]
                    spec = row.spec
                    found.append((binary_id, text_field(row.path), spec.duration * 1000.0, spec.cpu,
                                  spec.memory * MB, spec.crash, spec.system, spec.weight))
            return found

        buf: list[bytes] = []
        append = buf.append
        eid = crash_id = done = rows = 0
        for sessions in self.sessions:
            for index, s0, s1, user, _boot, _boot_ms, _logon in sessions:
                done += 1
                device = devices[index]
                rate = EXECUTIONS_PER_HOUR.get(device.platform)
                if not rate:
                    continue
                # The session's picks: the packed row start per binary, repeated by weight.
                table: list[tuple] = []
                for binary_id, path, mean, cpu, memory, crash, system, weight in kinds(device):
                    run_as = device.system_user if system else user
                    table += [(head(11, 8, device.id, 8, run_as, 8, binary_id) + path, mean, cpu, memory, crash,
                               run_as, binary_id)] * weight
                size = len(table)
                span = s1 - s0
                stop = min(s1 + 600, lim)
                first = eid + 1
                eid += int(rate * span / HOUR * (0.7 + 0.6 * rnd()))
                for row_id in range(first, eid + 1):
                    prefix, mean, cpu, memory, crash, run_as, binary_id = table[int(rnd() * size)]
                    st = s0 + int(rnd() * span)
                    duration = int(mean * EXP[int(rnd() * 4096)]) + 150
                    en = st + duration // 1000
                    if en > stop:
                        en = stop
                        duration = (en - st) * 1000 + 500
                    if rnd() < crash:
                        crashed = 1
                        crash_id += 1
                        crashes.append(binary_row(
                            int8_field(crash_id), int8_field(device.id), int8_field(run_as), int8_field(binary_id),
                            int8_field(base + (st + (en - st) // 2) * 1_000_000), choice(codes[device.platform]),
                        ))
                    else:
                        crashed = 0
                    append(prefix + pack(8, row_id, 8, base + st * 1_000_000, 8, base + en * 1_000_000, 8, duration,
                                         8, int(duration * cpu * rnd()), 8, memory + int(memory * rnd()), 4, crashed))
                rows += eid - first + 1
                if len(buf) >= WRITE_EVERY:
                    yield b"".join(buf), rows, done
                    buf.clear()
                    rows = done = 0
        yield b"".join(buf), rows, done

    def connections(self) -> Iterator[Chunk]:
        """Connections of the device's networked binaries to their destinations; a few fail."""
        clock, devices = self.clock, self.devices
        rng = self.ctx.rng("connections")
        rnd = rng.random
        base, lim = clock.base_us, clock.hi - 1
        head = struct.Struct("!hiqiqiqiqiq").pack  # 13 fields: device, user, binary, destination, port
        pack = struct.Struct("!iqiqiqiqiqiqii").pack  # id, start, end, in, out, response time, count
        pack_failed = struct.Struct("!iqiqiqiqiqiii").pack  # the same with a null response time
        binaries = {row.id: row for row in self.binaries}
        destinations = {d[0]: d for d in DESTINATIONS}
        closed, established = text_field("closed"), text_field("established")
        failed = [text_field(status) for status in FAILED_STATUSES]
        timeout = text_field("timeout")
        n_failed = len(failed)
        kinds_of: dict[int, list[tuple]] = {}

        def kinds(device: DemoDevice) -> list[tuple]:
            found = kinds_of.get(device.id)
            if found is None:
                found = kinds_of[device.id] = []
                for binary_id in device.binaries:
                    spec = binaries[binary_id].spec
                    for name, port, protocol, weight in spec.connects:
                        _, _, kb, rt, fail = destinations[name]
                        found.append((binary_id, self.destinations[name], self.ports[(port, protocol)],
                                      kb * 1024.0, rt, fail, spec.system, protocol == "udp", weight))
            return found

        buf: list[bytes] = []
        append = buf.append
        cid = done = rows = 0
        for sessions in self.sessions:
            for index, s0, s1, user, _boot, _boot_ms, _logon in sessions:
                done += 1
                device = devices[index]
                rate = CONNECTIONS_PER_HOUR.get(device.platform)
                if not rate:
                    continue
                table: list[tuple] = []
                for binary_id, destination_id, port_id, incoming, rt, fail, system, udp, weight in kinds(device):
                    start = head(13, 8, device.id, 8, device.system_user if system else user, 8, binary_id,
                                 8, destination_id, 8, port_id)
                    table += [(start, start + (closed if udp else established), start + closed, incoming, rt, fail,
                               48 if udp else 66)] * weight
                size = len(table)
                span = s1 - s0
                first = cid + 1
                cid += int(rate * span / HOUR * (0.7 + 0.6 * rnd()))
                for row_id in range(first, cid + 1):
                    start, open_prefix, closed_prefix, incoming, rt, fail, probe = table[int(rnd() * size)]
                    st = s0 + int(rnd() * span)
                    r = rnd()
                    if r < fail:
                        status = failed[int(rnd() * n_failed)]
                        en = st + 21 if status is timeout and st + 21 <= lim else st
                        append(start + status + pack_failed(8, row_id, 8, base + st * 1_000_000,
                                                            8, base + en * 1_000_000, 8, 0, 8, probe, -1,
                                                            4, 1 + int(rnd() * 3)))
                        continue
                    incoming = int(incoming * EXP[int(rnd() * 4096)]) + 200
                    en = st + int(rnd() * 900)
                    if en > lim:
                        en = lim
                    append((closed_prefix if r < 0.62 else open_prefix)
                           + pack(8, row_id, 8, base + st * 1_000_000, 8, base + en * 1_000_000, 8, incoming,
                                  8, incoming // 6 + int(400 * rnd()), 8, int(rt * (0.5 + rnd())) + 1,
                                  4, 1 + int(12 * rnd() * rnd())))
                rows += cid - first + 1
                if len(buf) >= WRITE_EVERY:
                    yield b"".join(buf), rows, done
                    buf.clear()
                    rows = done = 0
        yield b"".join(buf), rows, done

    def web_requests(self) -> Iterator[Chunk]:
        """Browser requests to the domains; errors mostly on the internal sites."""
        clock, devices = self.clock, self.devices
        rng = self.ctx.rng("web_requests")
        rnd = rng.random
        base, lim = clock.base_us, clock.hi - 1
        head = struct.Struct("!hiqiq").pack  # 14 fields: device, user (then binary, domain, protocol, path)
        binary_part = struct.Struct("!iq").pack
        pack = struct.Struct("!iqiqiqiiiqiqiqii").pack  # id, start, end, status, response, in, out, count
        binaries = {row.id: row for row in self.binaries}
        domains: list[tuple] = []
        for domain_id, (_name, _category, _country, weight, rt, kb, statuses, protocol, paths) in enumerate(
                DOMAINS, start=1):
            codes = [code for code, share in statuses for _ in range(share)]
            domains += [(int8_field(domain_id) + text_field(protocol), [text_field(p) for p in paths], codes, rt,
                         kb * 1024.0)] * weight
        n_domains = len(domains)
        browsers_of: dict[int, list[bytes]] = {}

        def browsers(device: DemoDevice) -> list[bytes]:
            found = browsers_of.get(device.id)
            if found is None:
                found = browsers_of[device.id] = []
                for binary_id in device.binaries:
                    found += [binary_part(8, binary_id)] * binaries[binary_id].spec.browser
            return found

        buf: list[bytes] = []
        append = buf.append
        wid = done = rows = 0
        for sessions in self.sessions:
            for index, s0, s1, user, _boot, _boot_ms, _logon in sessions:
                done += 1
                device = devices[index]
                rate = WEB_REQUESTS_PER_HOUR.get(device.platform)
                if not rate:
                    continue
                start = head(14, 8, device.id, 8, user)
                table = [start + part for part in browsers(device)]
                size = len(table)
                span = s1 - s0
                first = wid + 1
                wid += int(rate * span / HOUR * (0.7 + 0.6 * rnd()))
                for row_id in range(first, wid + 1):
                    part, paths, codes, rt, kb = domains[int(rnd() * n_domains)]
                    st = s0 + int(rnd() * span)
                    status = codes[int(rnd() * len(codes))]
                    response = int(rt * EXP[int(rnd() * 4096)]) + 8
                    en = st + response // 1000
                    if en > lim:
                        en = lim
                    incoming = int(kb * EXP[int(rnd() * 4096)]) + 350 if status < 400 else 600 + int(900 * rnd())
                    append(table[int(rnd() * size)] + part + paths[int(rnd() * len(paths))]
                           + pack(8, row_id, 8, base + st * 1_000_000, 8, base + en * 1_000_000, 4, status,
                                  8, response, 8, incoming, 8, 700 + int(2400 * rnd()),
                                  4, 1 + int(8 * rnd() * rnd())))
                rows += wid - first + 1
                if len(buf) >= WRITE_EVERY:
                    yield b"".join(buf), rows, done
                    buf.clear()
                    rows = done = 0
        yield b"".join(buf), rows, done

    def device_events(self) -> Iterator[Chunk]:
        """Boots, logons, and the occasional high CPU, low disk, system crash and hard reset."""
        clock, devices = self.clock, self.devices
        rng = self.ctx.rng("device_events")
        rnd = rng.random
        base, lim = clock.base_us, clock.hi - 1
        buf: list[bytes] = []
        eid = done = 0

        def event(device: DemoDevice, user: int | None, kind: str, at: int, duration_ms: int | None,
                  details: str) -> None:
            nonlocal eid
            eid += 1
            end = min(at + (duration_ms or 0) // 1000, lim)
            buf.append(binary_row(
                int8_field(eid), int8_field(device.id), int8_field(user), text_field(kind),
                int8_field(base + at * 1_000_000), int8_field(base + end * 1_000_000), int8_field(duration_ms),
                text_field(details),
            ))

        for sessions in self.sessions:
            for index, s0, s1, user, boot, boot_ms, logon in sessions:
                done += 1
                device = devices[index]
                windows = device.platform == "windows"
                span = s1 - s0
                if boot >= 0:
                    event(device, None, "system_boot", boot, boot_ms,
                          "Fast startup" if windows and rnd() < 0.3 else "Full boot")
                if device.platform == "mobile":
                    continue
                logon_ms = int(4000 + 9000 * EXP[int(rnd() * 4096)])
                if logon:
                    event(device, user, "user_logon", s0, logon_ms, "Interactive logon")
                if rnd() < 0.04:
                    minutes_high = 5 + int(rnd() * 25)
                    event(device, user, "high_cpu", s0 + int(rnd() * span), minutes_high * 60_000,
                          f"CPU usage above 90 % for {minutes_high} min")
                if device.disk_usage >= 0.9:
                    event(device, None, "low_disk", min(s0 + HOUR, s1), None,
                          f"System drive free space below 10 % ({device.free_space / GB:.1f} GB free)")
                if rnd() < 0.004:
                    at = s0 + int(rnd() * span)
                    event(device, user, "system_crash", at, None,
                          "BugCheck 0x0000007e (SYSTEM_THREAD_EXCEPTION_NOT_HANDLED)" if windows else "Kernel panic")
                    event(device, None, "system_boot", min(at + 60, lim), boot_ms, "Boot after system crash")
                if windows and rnd() < 0.002:
                    event(device, None, "hard_reset", s0 + int(rnd() * span), None,
                          "Unexpected shutdown (Kernel-Power event 41)")
            if len(buf) >= WRITE_EVERY:
                yield b"".join(buf), len(buf), done
                buf.clear()
                done = 0
        yield b"".join(buf), len(buf), done

    def installations(self) -> Iterator[Chunk]:
        """A package installed or removed in about 3 % of the sessions."""
        clock, devices = self.clock, self.devices
        rng = self.ctx.rng("installations")
        rnd = rng.random
        base, lim = clock.base_us, clock.hi - 1
        buf: list[bytes] = []
        iid = done = 0
        for sessions in self.sessions:
            for index, s0, s1, _user, _boot, _boot_ms, _logon in sessions:
                done += 1
                device = devices[index]
                if rnd() >= 0.03:
                    continue
                package_id, _name, _version, _publisher = rng.choice(self.packages[device.platform])
                kind = "installation" if rnd() < 0.85 else "uninstallation"
                at = s0 + int(rnd() * (s1 - s0))
                end = min(at + 20 + int(rnd() * 280), lim)
                iid += 1
                buf.append(binary_row(
                    int8_field(iid), int8_field(device.id), int8_field(package_id), text_field(kind),
                    int8_field(base + at * 1_000_000), int8_field(base + end * 1_000_000),
                ))
            if len(buf) >= WRITE_EVERY:
                yield b"".join(buf), len(buf), done
                buf.clear()
                done = 0
        yield b"".join(buf), len(buf), done


Chunk = tuple[bytes, int, int]  # packed rows, how many, sessions done

EXECUTION_COLUMNS = (
    ("device_id", "int8"), ("user_id", "int8"), ("binary_id", "int8"), ("binary_path", "text"), ("id", "int8"),
    ("start_time", "timestamptz"), ("end_time", "timestamptz"), ("duration", "int8"), ("cpu_time", "int8"),
    ("memory", "int8"), ("number_of_crashes", "int4"),
)
CRASH_COLUMNS = (("id", "int8"), ("device_id", "int8"), ("user_id", "int8"), ("binary_id", "int8"),
                 ("time", "timestamptz"), ("exception_code", "text"))
CONNECTION_COLUMNS = (
    ("device_id", "int8"), ("user_id", "int8"), ("binary_id", "int8"), ("destination_id", "int8"),
    ("port_id", "int8"), ("status", "text"), ("id", "int8"), ("start_time", "timestamptz"),
    ("end_time", "timestamptz"), ("incoming_traffic", "int8"), ("outgoing_traffic", "int8"),
    ("network_response_time", "int8"), ("number_of_connections", "int4"),
)
WEB_REQUEST_COLUMNS = (
    ("device_id", "int8"), ("user_id", "int8"), ("binary_id", "int8"), ("domain_id", "int8"), ("protocol", "text"),
    ("url_path", "text"), ("id", "int8"), ("start_time", "timestamptz"), ("end_time", "timestamptz"),
    ("http_status", "int4"), ("response_time", "int8"), ("incoming_traffic", "int8"), ("outgoing_traffic", "int8"),
    ("number_of_requests", "int4"),
)
DEVICE_EVENT_COLUMNS = (("id", "int8"), ("device_id", "int8"), ("user_id", "int8"), ("type", "text"),
                        ("start_time", "timestamptz"), ("end_time", "timestamptz"), ("duration", "int8"),
                        ("details", "text"))
INSTALLATION_COLUMNS = (("id", "int8"), ("device_id", "int8"), ("package_id", "int8"), ("type", "text"),
                        ("start_time", "timestamptz"), ("end_time", "timestamptz"))


def in_chunks(rows: list[bytes]) -> Iterator[Chunk]:
    for i in range(0, len(rows), WRITE_EVERY):
        part = rows[i:i + WRITE_EVERY]
        yield b"".join(part), len(part), 0


PACKAGE_NEWEST = {(platform, name): versions[0] for platform, specs in PACKAGES.items()
                  for name, versions, _ in specs}
