"""A user's contract-type file: read, refused with the file/row/column, kept by the import and
used by the verification (issue #17, item 4)."""

import io
import json

import pytest
from auditlog.models import LogEntry
from django.core.management import CommandError, call_command

from ratings.cms.contract_types import read_contract_types
from ratings.cms.tables import CmsTableError
from ratings.models import CmsContract, CmsDataImport, ContractType
from tests.ratings.conftest import shipped_2026_files

TYPES = dict(ContractType.choices)
# The six contracts whose SNP type the 2026 tables cannot tell, with their true types.
TRUE_TYPES = (
    "contract,type\n"
    "H3291,CCP with SNP\n"
    "H3467,ccp_with_snp\n"
    "H3727,ccp with snp\n"
    "H4091,CCP_WITH_SNP\n"
    "H6351,CCP with SNP\n"
    "h8067,CCP with Only I-SNP\n"
)


def write(tmp_path, text: str, name: str = "types.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_keys_and_labels_in_any_case_are_read(tmp_path):
    rows = read_contract_types(write(tmp_path, TRUE_TYPES), TYPES)
    assert {c: r.contract_type for c, r in rows.items()} == {
        "H3291": "ccp_with_snp",
        "H3467": "ccp_with_snp",
        "H3727": "ccp_with_snp",
        "H4091": "ccp_with_snp",
        "H6351": "ccp_with_snp",
        "H8067": "ccp_only_isnp",
    }
    assert rows["H8067"].row == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("contract;type\nH0001;pdp\n", r"expected the header row contract,type \(file types.csv, row 1\)"),
        ("", r"expected the header row contract,type \(file types.csv, row 1\)"),
        ("contract,type\n", r"no contracts listed \(file types.csv\)"),
        (
            "contract,type\nH001,pdp\n",
            r"not a CMS contract ID .* \(file types.csv, row 2, column 'contract'\)",
        ),
        (
            "contract,type\nH0001,pdp\n\nH0001,msa\n",
            r"H0001 is also on row 2 \(file types.csv, row 4, column 'contract'\)",
        ),
        (
            "contract,type\nH0001,isnp\n",
            r"'isnp' is not a Tables 4-7 contract type; .* \(file types.csv, row 2, column 'type'\)",
        ),
        ("contract,type\nH0001,pdp,x\n", r"expected 2 cells, found 3 \(file types.csv, row 2\)"),
    ],
)
def test_a_bad_file_names_its_row_and_column(tmp_path, text, message):
    with pytest.raises(CmsTableError, match=message):
        read_contract_types(write(tmp_path, text), TYPES)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "types.csv"
    path.write_bytes("contract,type\nH0001,CCP with SNP é\n".encode("utf-16"))
    with pytest.raises(CmsTableError, match=r"not UTF-8 text \(file types.csv\)"):
        read_contract_types(path, TYPES)


@pytest.mark.django_db
def test_the_import_keeps_the_types_and_audits_the_file(tmp_path):
    out = io.StringIO()
    call_command(
        "import_cms_star_data",
        str(shipped_2026_files()[0].parent),
        "--star-year",
        "2026",
        "--contract-types",
        str(write(tmp_path, TRUE_TYPES)),
        stdout=out,
    )
    assert ", 6 contract types given." in out.getvalue()
    assert dict(
        CmsContract.objects.exclude(contract_type="").values_list("contract_id", "contract_type")
    ) == {
        "H3291": "ccp_with_snp",
        "H3467": "ccp_with_snp",
        "H3727": "ccp_with_snp",
        "H4091": "ccp_with_snp",
        "H6351": "ccp_with_snp",
        "H8067": "ccp_only_isnp",
    }
    entry = LogEntry.objects.filter(object_pk="batch").latest("timestamp")
    assert entry.additional_data["batch"]["contract_types"] == {"file": "types.csv", "contracts": 6}
    # The verification reads the kept types: every rating matches.
    verified = io.StringIO()
    call_command("verify_cms_ratings", "--star-year", "2026", "--json", stdout=verified, stderr=io.StringIO())
    result = json.loads(verified.getvalue())
    assert [
        (result[k]["matched"], result[k]["compared"]) for k in ("part_c_summary", "part_d_summary", "overall")
    ] == [
        (720, 720),
        (761, 761),
        (712, 712),
    ]


@pytest.mark.django_db
def test_a_type_for_a_contract_not_in_the_tables_imports_nothing(tmp_path, small_2026):
    before = CmsContract.objects.filter(star_year=2026).count()
    with pytest.raises(
        CommandError,
        match=(
            r"Nothing imported: H9999 is not in this star year's measure tables "
            r"\(file types.csv, line 3, column 'contract'\)"
        ),
    ):
        call_command(
            "import_cms_star_data",
            str(shipped_2026_files()[0].parent),
            "--star-year",
            "2026",
            "--contract-types",
            str(write(tmp_path, "contract,type\nH3291,ccp_with_snp\nH9999,pdp\n")),
            stdout=io.StringIO(),
        )
    assert CmsContract.objects.filter(star_year=2026).count() == before
    assert CmsDataImport.objects.filter(star_year=2026).count() == 1


@pytest.mark.django_db
def test_the_verification_takes_a_file_and_pairs_win_over_it(tmp_path, national_2025, national_2026):
    path = str(write(tmp_path, TRUE_TYPES))

    def run(*args):
        out = io.StringIO()
        call_command(
            "verify_cms_ratings", "--star-year", "2026", "--json", *args, stdout=out, stderr=io.StringIO()
        )
        return json.loads(out.getvalue())

    fixed = run("--contract-types", path)
    assert fixed["prior_star_year"] == 2025
    assert (fixed["measure_stars_non_cahps"]["matched"], fixed["measure_stars_non_cahps"]["compared"]) == (
        17039,
        17040,
    )
    assert [fixed[k]["matched"] for k in ("part_c_summary", "part_d_summary", "overall")] == [720, 761, 712]
    # A pair on the command line wins over the file: H8067 back to the inferred type.
    overridden = run("--contract-types", path, "--contract-type", "H8067=ccp_with_snp")
    assert overridden["part_d_summary"]["matched"] == 760
    with pytest.raises(CommandError, match=r"--contract-types: cannot be read .* \(file missing.csv\)"):
        run("--contract-types", str(tmp_path / "missing.csv"))


@pytest.mark.django_db
def test_a_contract_type_file_in_the_folder_is_recognised_and_only_one_is_taken(tmp_path):
    for path in shipped_2026_files():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    write(tmp_path, TRUE_TYPES, "snp-types.csv")
    out = io.StringIO()
    call_command("import_cms_star_data", str(tmp_path), "--star-year", "2026", stdout=out)
    assert "read snp-types.csv: contract types" in out.getvalue()
    assert CmsContract.objects.exclude(contract_type="").count() == 6
    write(tmp_path, "contract,type\nH3291,ccp_with_snp\n", "more-types.csv")
    with pytest.raises(CommandError, match=r"two contract-type files: more-types.csv and snp-types.csv"):
        call_command("import_cms_star_data", str(tmp_path), "--star-year", "2026", stdout=io.StringIO())
