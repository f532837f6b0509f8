"""Reads of care gaps: the worklist, always scoped to the user's contracts."""

from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Exists, OuterRef, Prefetch, QuerySet, Subquery

from gaps.models import CareGap, GapRemark
from hedis_portal.backends import visible_contract_ids
from hedis_portal.filters import ChoiceLiteral
from members.models import Contract
from members.selectors import contract_pk_of


def worklist_for(user):
    """The user's contracts' gaps with what a worklist row shows, in one query per page.

    `select_related` brings the contract ID, measure code, assignee name and current
    prediction (its probability; the tier is on the gap) in the same query: no N+1 on a page of 50.
    """
    return CareGap.objects.visible_to(user).select_related(
        "contract", "measure", "assignee", "current_prediction"
    )


def gap_detail_for(user):
    """The worklist queryset plus each gap's remarks (one extra query for the page, not per gap)."""
    return worklist_for(user).prefetch_related(
        Prefetch("remarks", queryset=GapRemark.objects.select_related("author"))
    )


class PerContractRows:
    """A worklist queryset over several contracts, read one contract at a time and merged.

    With `contract_id IN (1, 2)` PostgreSQL cannot walk an index that leads with the contract in
    the page's order: it reads every gap of both contracts and sorts them (180-370 ms a page at
    390,000 gaps). Here a page slice `[a:b]` becomes one statement, `(… WHERE contract_id = 1
    ORDER BY … LIMIT b) UNION ALL (… = 2 …) ORDER BY … LIMIT b - a OFFSET a`: each branch an
    ordered index scan stopping after `b` rows. Each branch keeps the queryset's own scoping and
    filters; only `order_by`, `filter` and slicing are offered, what cursor pagination uses.
    """

    def __init__(self, queryset: QuerySet, contract_ids: list[int]):
        self.queryset = queryset
        self.contract_ids = contract_ids

    @property
    def model(self):
        """The queryset's model (the ordering filter reads its primary key)."""
        return self.queryset.model

    def order_by(self, *fields) -> "PerContractRows":
        return PerContractRows(self.queryset.order_by(*fields), self.contract_ids)

    def filter(self, *args, **kwargs) -> "PerContractRows":
        return PerContractRows(self.queryset.filter(*args, **kwargs), self.contract_ids)

    def __getitem__(self, window: slice) -> QuerySet:
        stop = window.stop
        first, *others = (
            from_the_contracts_end(self.queryset.filter(contract_id=pk), pk)[:stop]
            for pk in self.contract_ids
        )
        merged = first.union(*others, all=True).order_by(*self.queryset.query.order_by)
        return merged[window]


def from_the_contracts_end(queryset: QuerySet, contract) -> QuerySet:
    """One contract's gaps ordered by id first, bounded by the contract's own first or last id.

    Ordered by id, PostgreSQL walks the primary key and filters on the contract: it expects the
    contract's share of the table to be spread over it, but a contract's gaps are imported
    together, so the walk passed every gap imported after it (`-id`) or before it (`id`): 18 ms
    for the 120,000 gaps of a second contract at 1.32 million (docs/performance.md). The bound,
    read from the end of `(contract, id)` in one index probe, starts either index at the
    contract's own end. It removes no row of the contract. `contract` is the contract's primary
    key, or an expression giving it (the `contract` filter's subquery).
    """
    order = queryset.query.order_by
    if not order or order[0] not in ("id", "-id"):
        return queryset
    newest_first = order[0] == "-id"
    end = CareGap.objects.filter(contract_id=contract).order_by(order[0]).values("id")[:1]
    return queryset.filter(**{"id__lte" if newest_first else "id__gte": Subquery(end)})


def worklist_per_contract(queryset: QuerySet, user, *, contract_code: str | None = None):
    """`queryset` (the user's worklist, filtered and ordered) paged contract by contract when that
    is faster, and each contract read from its own end when ordered by id.

    `contract_code` is the value of the worklist's `contract` filter, if any: its one contract is
    read from its own end. Otherwise contract by contract only for several contracts, on a
    database that takes an ordered, limited query in a UNION (PostgreSQL; SQLite does not); a
    superuser's contracts are not listed on the user, so a superuser's worklist is read as one query.
    """
    if contract_code:
        return from_the_contracts_end(queryset, contract_pk_of(contract_code))
    if user.is_superuser:
        return queryset
    contract_ids = sorted(visible_contract_ids(user))
    if len(contract_ids) == 1:
        return from_the_contracts_end(queryset, contract_ids[0])
    features = connections[queryset.db].features
    if not contract_ids or not features.supports_slicing_ordering_in_compound:
        return queryset
    return PerContractRows(queryset, contract_ids)


# What the worklist's sidebar offers: the values some of the user's gaps have. Each is found by
# an EXISTS per value (or per person), an index probe that stops at the first gap; a DISTINCT over
# the field read every gap of the user's contracts instead (0.2–0.9 s each, 2.8 s for the page,
# at 1.2 million gaps).


def worklist_values_present(user, lookup: str, values: Sequence) -> set:
    """Which of `values` at least one of the user's gaps has for `lookup` (a field, or a lookup such
    as `last_outreach_at__isnull`): one query, whatever the number of gaps. A choice (a word) is
    written into the statement (`ChoiceLiteral`): prepared with parameters, PostgreSQL's generic
    plan for it took 1 s to find no refused gap."""
    gaps = CareGap.objects.visible_to(user).order_by()
    probes = {
        f"has_{i}": Exists(gaps.filter(**{lookup: ChoiceLiteral(value) if isinstance(value, str) else value}))
        for i, value in enumerate(values)
    }
    if not probes:
        return set()
    # The probes are the columns of one row: the user's own, any one-row table would do.
    found = get_user_model().objects.filter(pk=user.pk).values(**probes).get()
    return {value for i, value in enumerate(values) if found[f"has_{i}"]}


def worklist_assignees(user) -> QuerySet:
    """The people some of the user's gaps are assigned to (the user among them), by username."""
    gaps = CareGap.objects.visible_to(user).order_by()
    return get_user_model().objects.filter(Exists(gaps.filter(assignee=OuterRef("pk")))).order_by("username")


def gap_years_by_contract(contracts: QuerySet) -> dict[int, list[int]]:
    """Each of `contracts` (a queryset) that has gaps → its measurement years with gaps, latest
    first. Two queries of index probes: each contract's first and last year, then which years
    between them have gaps (a DISTINCT over the gaps read every one: 1.4 s at 1.32 million)."""
    gaps = CareGap.objects.filter(contract=OuterRef("pk")).order_by()
    ends = list(
        contracts.annotate(
            first=Subquery(gaps.order_by("measurement_year").values("measurement_year")[:1]),
            last=Subquery(gaps.order_by("-measurement_year").values("measurement_year")[:1]),
        )
        .filter(first__isnull=False)
        .values_list("pk", "first", "last")
    )
    years = sorted({year for _, first, last in ends for year in range(first, last + 1)}, reverse=True)
    probes = {f"in_{year}": Exists(gaps.filter(measurement_year=year)) for year in years}
    rows = Contract.objects.filter(pk__in=[pk for pk, _, _ in ends]).values("pk", **probes)
    return {row["pk"]: [year for year in years if row[f"in_{year}"]] for row in rows}


def worklist_years(user) -> list[int]:
    """The measurement years the user's gaps are in, latest first."""
    by_contract = gap_years_by_contract(Contract.objects.visible_to(user))
    return sorted({year for years in by_contract.values() for year in years}, reverse=True)
