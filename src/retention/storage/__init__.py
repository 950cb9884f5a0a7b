"""Storage: the Store port, its adapters, and SQL pushdown of the heavy aggregations."""
