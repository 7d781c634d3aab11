"""Side-by-side rows for showing a conflict: Gantry's text on the left, GitHub's on the right."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass
class DiffRow:
    kind: str  # "equal", "replace", "delete" (only left), "insert" (only right)
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def side_by_side(left: str, right: str, context: int = 3) -> list[DiffRow | None]:
    """Rows of changed lines with `context` equal lines around them; None marks skipped stretches."""
    a, b = left.splitlines(), right.splitlines()
    rows: list[DiffRow | None] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        if rows:
            rows.append(None)
        for tag, i1, i2, j1, j2 in group:
            span = max(i2 - i1, j2 - j1)
            for k in range(span):
                li, rj = i1 + k, j1 + k
                has_left, has_right = li < i2, rj < j2
                kind = tag if tag in ("equal", "replace") else ("delete" if has_left else "insert")
                rows.append(DiffRow(kind, li + 1 if has_left else None, a[li] if has_left else "",
                                    rj + 1 if has_right else None, b[rj] if has_right else ""))
    return rows
