"""Builds PLY parsers whose LALR tables are generated once and kept in a cache directory.

The tables are pickled to ``$OPENDEX_PLY_CACHE`` (default ``~/.cache/opendex/ply``) under a name that
carries the grammar's signature, written to a temporary file and renamed into place, so concurrent
processes never read a half-written table. Nothing is written into the source tree.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import ply.yacc as yacc

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    configured = os.environ.get("OPENDEX_PLY_CACHE")
    base = Path(configured) if configured else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base if configured else base / "opendex" / "ply"


def build_parser(module, name: str, start: str):
    """An LR parser for the grammar in ``module``'s ``p_`` docstrings."""
    grammar = yacc.ParserReflect(module.__dict__ if isinstance(module, dict) else _members(module))
    grammar.get_all()
    signature = hashlib.sha256(grammar.signature().encode()).hexdigest()[:16]
    directory = cache_dir()
    table_file = directory / f"{name}-{signature}.pickle"
    quiet = yacc.NullLogger()
    if table_file.exists():
        try:
            return yacc.yacc(module=module, start=start, debug=False, write_tables=False,
                             picklefile=str(table_file), errorlog=quiet)
        except Exception:  # a damaged cache file: build the tables again below
            logger.warning("PLY table cache %s unreadable; rebuilding it", table_file)
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}-", suffix=".tmp")
    os.close(handle)
    os.unlink(temporary)  # PLY reads the pickle first if it exists
    try:
        parser = yacc.yacc(module=module, start=start, debug=False, write_tables=False,
                           picklefile=temporary, errorlog=quiet)
        os.replace(temporary, table_file)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return parser


def _members(instance) -> dict:
    return {attr: getattr(instance, attr) for attr in dir(instance)}
