"""The gap import's baseline in `bench`: the file parsed and its member IDs HMAC'd, no database."""

from synthetic.bench.figures import parse_and_hmac


def test_the_baseline_reads_every_row_of_the_file_after_the_header():
    data = '\ufeffmember_id,measure,compliance_status\nM-1,BCS,open\nM-1,COL,open\n"M,2",BCS,open\n'.encode()
    assert parse_and_hmac(data) == 3
