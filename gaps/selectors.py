"""Reads of care gaps: the worklist, always scoped to the user's contracts."""

from django.db import connections
from django.db.models import Prefetch, QuerySet

from gaps.models import CareGap, GapRemark
from hedis_portal.backends import visible_contract_ids


def worklist_for(user):
    """The user's contracts' gaps with what a worklist row shows, in one query per page.

    `select_related` brings the contract ID, measure code, assignee name and current
    prediction (probability, risk tier) in the same query: no N+1 on a page of 50.
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
        first, *others = (self.queryset.filter(contract_id=pk)[:stop] for pk in self.contract_ids)
        merged = first.union(*others, all=True).order_by(*self.queryset.query.order_by)
        return merged[window]


def worklist_per_contract(queryset: QuerySet, user, *, contract_filtered: bool):
    """`queryset` (the user's worklist, filtered) paged contract by contract when that is faster.

    Only for several contracts without a `contract` filter, on a database that takes an ordered,
    limited query in a UNION (PostgreSQL; SQLite does not); a superuser's contracts are not
    listed on the user, so a superuser's worklist is read as one query.
    """
    if contract_filtered or user.is_superuser:
        return queryset
    contract_ids = visible_contract_ids(user)
    features = connections[queryset.db].features
    if len(contract_ids) < 2 or not features.supports_slicing_ordering_in_compound:
        return queryset
    return PerContractRows(queryset, sorted(contract_ids))
