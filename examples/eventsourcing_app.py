"""An eventsourcing application stored in the exchange's event store, and a projection of it.

    EXCHANGE_DATABASE_URL=mysql+asyncmy://exchange:exchange@127.0.0.1:3306/exchange \\
        .venv/bin/python -m examples.eventsourcing_app ACME INIT ACME

``Watchlists`` keeps traders' watchlists (a tiny ``Watchlist`` aggregate); ``SymbolPopularity``
follows its notifications in the store and counts, per symbol, how many times it was added to
a watchlist. The projection's counters are aggregates too, saved with the tracking record of
the notification they came from in one append, so a restart resumes exactly where it stopped.
Every event, the application's and the projection's, is an ordinary event of the exchange's
store: a global position, relayed to Kafka, ignored by the exchange's own workers.

Without ``EXCHANGE_DATABASE_URL`` it uses the dev stack's database (``./exchange up``).
"""

from __future__ import annotations

import os
import sys
from functools import singledispatchmethod
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, event
from eventsourcing.projection import EventSourcedProjection, EventSourcedProjectionRunner
from eventsourcing.utils import get_topic

from common.settings import InfraSettings


class Watchlist(Aggregate):
    """A trader's list of symbols to watch."""

    class SymbolAdded(Aggregate.Event):
        """A symbol was added (declared, so the projection can name it)."""

        symbol: str

    @event("Created")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.symbols: list[str] = []

    @event(SymbolAdded)
    def add(self, symbol: str) -> None:
        """Watch one more symbol."""
        self.symbols.append(symbol)


class Watchlists(Application[UUID]):
    """The application: its events go to the exchange's store."""

    def create(self, owner: str, symbols: list[str]) -> UUID:
        """A new watchlist of ``symbols``."""
        watchlist = Watchlist(owner)
        for symbol in symbols:
            watchlist.add(symbol)
        self.save(watchlist)
        return watchlist.id

    def symbols(self, watchlist_id: UUID) -> list[str]:
        """What a watchlist holds."""
        watchlist: Watchlist = self.repository.get(watchlist_id)
        return list(watchlist.symbols)


class Popularity(Aggregate):
    """How many times one symbol was put on a watchlist."""

    @staticmethod
    def create_id(symbol: str) -> UUID:
        """One counter per symbol."""
        return uuid5(NAMESPACE_URL, f"/popularity/{symbol}")

    @event("Created")
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.watchers = 0

    @event("Watched")
    def watched(self) -> None:
        """One more watchlist has the symbol."""
        self.watchers += 1


class SymbolPopularity(EventSourcedProjection[UUID]):
    """Follows ``Watchlists``' notifications (only ``SymbolAdded``) and counts per symbol."""

    topics = (get_topic(Watchlist.SymbolAdded),)

    @singledispatchmethod
    def policy(
        self, domain_event: DomainEventProtocol[UUID], processing_event: ProcessingEvent[UUID]
    ) -> None:
        """Other events change nothing."""

    @policy.register
    def _(self, added: Watchlist.SymbolAdded, processing_event: ProcessingEvent[UUID]) -> None:
        try:
            counter: Popularity = self.repository.get(Popularity.create_id(added.symbol))
        except AggregateNotFoundError:
            counter = Popularity(added.symbol)
        counter.watched()
        processing_event.collect_events(counter)

    def watchers(self, symbol: str) -> int:
        """The symbol's count so far."""
        try:
            counter: Popularity = self.repository.get(Popularity.create_id(symbol))
        except AggregateNotFoundError:
            return 0
        return counter.watchers


def main(symbols: list[str]) -> None:
    """Store a watchlist of ``symbols``, wait for the projection, print what it counted."""
    os.environ.setdefault("PERSISTENCE_MODULE", "event_store.eventsourcing")
    os.environ.setdefault("EXCHANGE_DATABASE_URL", InfraSettings().database_url)
    runner = EventSourcedProjectionRunner(
        application_class=Watchlists, projection_class=SymbolPopularity
    )
    with runner:
        app: Watchlists = runner.app
        watchlist_id = app.create("alice", symbols)
        last = app.recorder.max_notification_id()
        print(f"watchlist {watchlist_id}: {app.symbols(watchlist_id)}, up to position {last}")
        runner.wait(last, timeout=30)
        for symbol in sorted(set(symbols)):
            print(f"{symbol}: added {runner.projection.watchers(symbol)} times")


if __name__ == "__main__":
    main(sys.argv[1:] or ["ACME"])
