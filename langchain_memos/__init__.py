"""langchain-memos: MemOS-style managed memory for LangGraph and LangChain agents."""
