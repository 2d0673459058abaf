"""The use cases of the command API: each decides, then makes one atomic append."""
