"""Real files of every supported type (and some hostile ones), built in memory for tests."""

from __future__ import annotations

import io
import zipfile

from docx import Document as DocxDocument
from fpdf import FPDF
from pypdf import PdfWriter


def pdf_bytes(*, pages: list[tuple[str, str]] | None = None) -> bytes:
    """A PDF with one bookmarked section per page: [(heading, body), ...]."""
    pages = pages or [
        ("1 Overview", "The incident process starts when an alert pages the on-call engineer."),
        ("2 Escalation", "Escalate to the incident commander after thirty minutes without mitigation."),
    ]
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for heading, body in pages:
        pdf.add_page()
        pdf.start_section(heading)
        pdf.multi_cell(0, 8, heading)
        pdf.ln(4)
        pdf.multi_cell(0, 8, body)
    return bytes(pdf.output())


def encrypted_pdf_bytes() -> bytes:
    from pypdf import PdfReader

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes())))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(*, heading: str = "Onboarding", body: str = "New engineers get a laptop on day one.") -> bytes:
    document = DocxDocument()
    document.add_heading(heading, level=1)
    document.add_paragraph(body)
    document.add_heading("Accounts", level=2)
    document.add_paragraph("Request VPN access through the IT portal.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "System"
    table.cell(0, 1).text = "Owner"
    table.cell(1, 0).text = "VPN"
    table.cell(1, 1).text = "IT"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _rezip(original: bytes, replace: dict[str, bytes], extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, replace.get(item.filename, source.read(item.filename)))
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def zip_bomb_docx_bytes() -> bytes:
    """A valid DOCX with an extra part of 64 MB of zeros (compresses about 1000:1)."""
    return _rezip(docx_bytes(), {}, {"word/media/padding.bin": b"\0" * (64 * 1024 * 1024)})


def xml_bomb_docx_bytes() -> bytes:
    """A DOCX whose document.xml declares a billion-laughs entity chain."""
    lol = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'.encode() for i in range(1, 10)
        )
        + b']>\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>"
    )
    return _rezip(docx_bytes(), {"word/document.xml": lol})


def html_bytes() -> bytes:
    return (
        b"<!doctype html><html><head><title>Expense policy</title><script>alert(1)</script></head><body>"
        b"<nav>Home | About</nav><h1>Expense policy</h1><p>Submit receipts within 30 days.</p>"
        b"<h2>Travel</h2><p>Economy class for flights under six hours.</p></body></html>"
    )


def nested_html_bytes(depth: int = 5000) -> bytes:
    return b"<!doctype html><html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"


PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"
    b"\0\0\0\rIDATx\x9cc\0\x01\0\0\x05\0\x01\r\n-\xb4\0\0\0\0IEND\xaeB`\x82"
)
