"""Hybrid retrieval: query analysis, signal fusion, MMR, relevance floor and token budget."""
