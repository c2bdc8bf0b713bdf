"""Storage engines behind small protocols (see :mod:`langchain_memos.storage.base`)."""
