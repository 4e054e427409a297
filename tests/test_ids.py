"""Id minting across processes: forked server workers must never mint the same ids."""

from __future__ import annotations

import multiprocessing

from parley import ids


def _mint(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([ids.new_id("msg_") for _ in range(200)] + [ids.request_id()])


def test_forked_workers_mint_distinct_ids() -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    workers = [context.Process(target=_mint, args=(queue,)) for _ in range(3)]
    for worker in workers:
        worker.start()
    batches = [queue.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    queue.close()
    queue.join_thread()
    minted = [value for batch in batches for value in batch]
    assert len(set(minted)) == len(minted)
    # The random tails differ too, not only the per-process counters.
    tails = {value[-28:] for value in minted if value.startswith("msg_")}
    assert len(tails) == 600
