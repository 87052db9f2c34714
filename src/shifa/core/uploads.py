"""What an uploaded file really is, by its first bytes (a file's name and declared type are the sender's word)."""

from __future__ import annotations


def sniff_content_type(upload) -> str:
    """``application/pdf``, ``image/jpeg`` or ``image/png`` by the file's signature; else
    ``application/octet-stream``. The upload is left at its start."""
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return "application/octet-stream"
