"""The matching engine: price-time priority books driven by commands, producing events."""

from domain.matching.book import OrderBook, PriceLevel, RestingOrder
from domain.matching.engine import MatchingEngine

__all__ = ["MatchingEngine", "OrderBook", "PriceLevel", "RestingOrder"]
