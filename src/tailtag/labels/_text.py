"""Bytes -> text for the label readers, with errors that say where the bad byte is.

Every text reader goes through here so that an empty file, a UTF-16 export from Excel or a Latin-1
file gets the same message naming the file, line and column, and so that a UTF-8 byte-order mark
(written by Excel's "CSV UTF-8" and by Notepad) is accepted everywhere.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from tailtag.errors import LabelFileError

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_REENCODE = "re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv > out.csv`, or 'CSV UTF-8' in Excel)"
HEAD_BYTES = 1 << 20


def text_start(data: bytes, path: str | Path) -> int:
    """Offset of the text in `data` (3 after a UTF-8 byte-order mark); UTF-16 and empty files are errors."""
    if data.startswith(_UTF16_BOMS):
        raise LabelFileError(path, "the file is UTF-16 text (it starts with a UTF-16 byte-order mark)", fix=_REENCODE)
    start = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    if len(data) == start or (len(data) <= HEAD_BYTES and data[start:].isspace()):
        raise LabelFileError(path, "the file is empty", fix="point to the label file itself, not an empty placeholder")
    return start


def strip_bom(data: bytes, path: str | Path) -> bytes:
    """`data` without a UTF-8 byte-order mark; UTF-16 text and empty files are errors."""
    start = text_start(data, path)
    return data[start:] if start else data


def read_bytes(path: str | Path) -> bytes:
    """The whole file without its byte-order mark; an empty file is an error."""
    return strip_bom(Path(path).read_bytes(), path)


def decode_error(path: str | Path, data: bytes, error: UnicodeDecodeError, base_line: int = 1) -> LabelFileError:
    """A `LabelFileError` for bytes that are not UTF-8, naming the line and column of the first bad byte.

    Args:
        path: file the bytes came from.
        data: the bytes that were decoded (the whole file or one line of it).
        error: the exception from `bytes.decode`.
        base_line: line number of the first byte of `data` in the file.
    """
    before = data[: error.start]
    line = base_line + before.count(b"\n")
    column = error.start - (before.rfind(b"\n") + 1) + 1
    bad = data[error.start : error.start + 1].hex()
    return LabelFileError(
        path, f"the file is not UTF-8 text: byte 0x{bad} at column {column} cannot be decoded", line=line, fix=_REENCODE
    )


def decode(data: bytes, path: str | Path, base_line: int = 1) -> str:
    """`data` decoded as UTF-8; anything else raises a `LabelFileError` naming the line of the bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise decode_error(path, data, error, base_line) from None


def read_text(path: str | Path) -> str:
    """The whole file as text (UTF-8, optional BOM); empty or undecodable files are errors."""
    return decode(read_bytes(path), path)


def read_head(path: str | Path, n_bytes: int = HEAD_BYTES) -> tuple[str, bool]:
    """The first `n_bytes` of a text file, decoded, for sniffing its layout without reading it all.

    Returns:
        (text, complete): `complete` is False when the file is longer than the head, in which case
        the last line of `text` may be cut short and should not be trusted.
    """
    with open(path, "rb") as handle:
        raw = handle.read(n_bytes + 1)
    complete = len(raw) <= n_bytes
    raw = strip_bom(raw[:n_bytes], path)
    # An incremental decoder tolerates a multi-byte character cut at the end of the head.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(raw, final=complete)
    except UnicodeDecodeError as error:
        raise decode_error(path, raw, error) from None
    return text, complete


def read_name_list(path: str | Path, flag: str) -> list[str]:
    """Label names from a text file with one name per line (blank lines skipped), in column order.

    Args:
        path: the file.
        flag: the command-line flag that names the file, for the fix in error messages.

    Returns:
        (L,) names, stripped of surrounding whitespace.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(path, "the label-name list does not exist", fix=f"check the path given to {flag}")
    names: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in first_line:
            raise LabelFileError(
                path,
                f"label name {name!r} is listed twice (lines {first_line[name]} and {number})",
                line=number,
                fix="give every label a unique name, one per line",
            )
        first_line[name] = number
        names.append(name)
    return names
