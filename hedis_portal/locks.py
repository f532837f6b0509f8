"""Advisory locks that let one piece of work on a contract run at a time, across processes.

On PostgreSQL, `contract_lock` takes `pg_advisory_xact_lock(namespace, contract)`: a second
transaction asking for the same lock waits until the first commits or rolls back, whichever
process or machine it runs on, and nothing else is blocked. On SQLite a write transaction holds
the whole database already (the settings begin each transaction IMMEDIATE), so there is nothing
more to take.
"""

from collections.abc import Iterable

from django.db import connection

# One namespace per kind of work that must not overlap on a contract.
IMPORTS = 1


def contract_lock(namespace: int, contract_ids: Iterable[int]) -> None:
    """Wait for, and hold until the transaction ends, the locks on these contracts' `namespace` work.

    Taken in ascending order of contract, so two transactions that need several never wait for
    each other in a circle. Must run inside `transaction.atomic()`.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("contract_lock holds its locks until the transaction ends: call it inside one")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for contract_id in sorted(set(contract_ids)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, contract_id])
