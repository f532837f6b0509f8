"""A user's contract-type file: the Tables 4-7 type of contracts the data tables cannot tell.

The tables flag SNP contracts but not which SNP types they offer, while Tables 6-7 set a far
lower minimum for a contract that offers only I-SNPs (`verify.profile_from_tables` infers it).
A user who knows (e.g. from CMS's SNP Comprehensive Report) gives a CSV with the header
`contract,type`, one contract per row; a type is a Tables 4-7 key (`ccp_only_isnp`) or its
label as the Technical Notes write it ("CCP with Only I-SNP"), in any case.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ratings.cms.tables import CONTRACT_ID, CmsTableError

__all__ = ["ContractTypeRow", "is_contract_type_file", "read_contract_types"]

HEADER = ("contract", "type")


def is_contract_type_file(path: Path) -> bool:
    """Whether a file starts with the `contract,type` header (so it is no CMS table)."""
    try:
        with path.open("rb") as file:
            first = file.readline(200)
    except OSError:
        return False
    cells = first.decode("utf-8-sig", errors="replace").strip().lower().split(",")
    return tuple(cell.strip() for cell in cells) == HEADER


@dataclass(frozen=True)
class ContractTypeRow:
    """One row of the file: where it is (1-based row) and the type key it gives."""

    row: int
    contract_type: str


def read_contract_types(path: Path, types: Mapping[str, str]) -> dict[str, ContractTypeRow]:
    """Contract ID → its row and type key; `types` maps each Tables 4-7 key to its label.

    Raises `CmsTableError` naming the file, row and column of the first problem.
    """
    name = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CmsTableError("not UTF-8 text", file=name) from None
    except OSError as exc:
        raise CmsTableError(f"cannot be read ({exc.strerror})", file=name) from None
    by_text = {key.lower(): key for key in types} | {label.lower(): key for key, label in types.items()}
    rows = csv.reader(io.StringIO(text))
    header = tuple(cell.strip().lower() for cell in next(rows, []))
    if header != HEADER:
        raise CmsTableError("expected the header row contract,type", file=name, row=1)
    found: dict[str, ContractTypeRow] = {}
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise CmsTableError(f"expected 2 cells, found {len(row)}", file=name, row=number)
        contract_id, given = row[0].strip().upper(), row[1].strip()
        if not CONTRACT_ID.match(contract_id):
            raise CmsTableError(
                "not a CMS contract ID (a letter and four digits)", file=name, row=number, column="contract"
            )
        if contract_id in found:
            raise CmsTableError(
                f"{contract_id} is also on row {found[contract_id].row}",
                file=name,
                row=number,
                column="contract",
            )
        key = by_text.get(given.lower())
        if key is None:
            raise CmsTableError(
                f"{given!r} is not a Tables 4-7 contract type; expected one of "
                f"{', '.join(sorted(types))} (or their labels)",
                file=name,
                row=number,
                column="type",
            )
        found[contract_id] = ContractTypeRow(number, key)
    if not found:
        raise CmsTableError("no contracts listed", file=name)
    return found
