"""Small runnable programs that use the exchange (see the README)."""
