"""The long-term memory graph: extraction, entity resolution, bi-temporal relations, graph engines."""
