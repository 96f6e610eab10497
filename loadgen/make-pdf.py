#!/usr/bin/env python3
"""Writes a well-formed one-page PDF of about SIZE bytes for the upload benchmark.

Usage: make-pdf.py PATH SIZE [TAG]

Its bulk is one unreferenced stream of random bytes (incompressible, so nothing on the
way can shrink it); the catalog, page tree, cross-reference table and trailer are real,
so a PDF reader opens it from its trailer as it would a real document instead of scanning
every byte to rebuild a missing xref. TAG (optional) goes into a comment on the second
line, to make files of the same size distinct.
"""

import os
import sys


def main() -> None:
    path, size = sys.argv[1], int(sys.argv[2])
    tag = sys.argv[3].encode() if len(sys.argv) > 3 else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
    ]
    with open(path, "wb") as out:
        out.write(b"%PDF-1.7\n%" + tag + b"\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, 1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
        # What follows the stream's bytes: its end, the xref (5 entries) and the trailer.
        trailer_bytes = 40 + 20 + 5 * 20 + 60
        length = max(0, size - out.tell() - 40 - trailer_bytes)
        offsets.append(out.tell())
        out.write(b"4 0 obj\n<< /Length %d >>\nstream\n" % length)
        left = length
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            out.write(chunk)
            left -= len(chunk)
        out.write(b"\nendstream\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 5\n0000000000 65535 f \n")
        out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
        out.write(b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref)


if __name__ == "__main__":
    main()
