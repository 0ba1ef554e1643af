"""File names as this package says and stores them: spend files may be named with any byte but
/ and NUL; the database keeps names as text, and every file's line of output is one line.
Light on purpose: the CLI checks names with it before loading any ingestion."""

from __future__ import annotations

NAME_NOT_UTF8 = "the file name is not UTF-8 (the database keeps names as text): rename the file"


def utf8_name(name: str) -> bool:
    """Whether a file name (as the OS gives it, undecodable bytes as surrogates) is UTF-8 text."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def one_line(text: str) -> str:
    """`text` with every character that is not printable escaped (a line break as \\n, and so a
    backslash as \\\\): a file name may hold any byte but / and NUL, and each file's line must
    stay one line, and say which name it was."""
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text)
