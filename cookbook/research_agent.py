"""Recipe: a research agent that ingests documents into memory and answers from them with sources.

The recipe writes three short field notes into a directory. LangChain's
``DirectoryLoader``/``TextLoader`` load them and ``RecursiveCharacterTextSplitter`` cuts
them into chunks. Each chunk becomes a cube in the shared ``("library", "field-notes")``
namespace, keyed by ``file#chunk``, so ingesting again replaces instead of duplicating.
Each cube's provenance names its source file and chunk index (``Provenance(kind="document",
ref="bees.txt#1")``). The agent (``create_memos_agent``) answers with a ``search_documents``
tool that returns the best chunks (those scoring at least half the best) with their sources and
why they matched. The agent's own
memory of the user stays in the user's namespace.

    python -m cookbook.research_agent                      # offline: scripted model, MiniLM
    python -m cookbook.research_agent --docs ./my_notes     # your own .txt files
    python -m cookbook.research_agent --embed hash --path ./memos_data
    MEMOS_CHAT_MODEL=openai:gpt-4o-mini python -m cookbook.research_agent      # any chat model

Needs the ``community`` extra (``langchain-community``, ``langchain-text-splitters``).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, tool
from langchain_text_splitters import RecursiveCharacterTextSplitter

from cookbook._models import PromptRecorder, add_memory_options, call, chat_model, last_human, open_memory, tool_results
from langchain_memos import MemCube, MemOS, Provenance
from langchain_memos.integrations import create_memos_agent

LIBRARY = ("library", "field-notes")
USER = "ren"
SYSTEM_PROMPT = "You are a research assistant. Answer from the documents you search, and list your sources."

NOTES = {
    "bees.txt": """Honeybee foragers share the location of food with the waggle dance. On the vertical comb, the
angle of the waggle run from straight up gives the direction of the food relative to the sun.

The duration of the waggle run encodes distance: roughly one second of waggling for each kilometre
of flight. Karl von Frisch described the dance in the 1940s and shared the 1973 Nobel Prize for it.

Foragers returning from poor sources dance less, so the colony's effort shifts to the richest flowers.""",
    "sourdough.txt": """A sourdough starter is a culture of wild yeasts and lactic acid bacteria living in flour
and water. The yeasts make carbon dioxide, which leavens the bread without any baker's yeast.

The bacteria make lactic and acetic acid, which give the sour taste and help the loaf keep for days.
A warmer starter favours lactic acid and a milder flavour; a cooler one gives a sharper, more acetic bread.

Most bakers feed the starter every day with equal weights of flour and water.""",
    "trams.txt": """Lisbon's first trams were horse-drawn cars introduced in 1873 by the Companhia Carris.
The network was electrified in 1901, and the electric cars climbed hills the horses never could.

Route 28 crosses Alfama, Baixa and Estrela with narrow gauge and tight curves, so the city still runs
small Remodelado cars built in the 1930s and refitted in the 1990s.

Newer articulated trams serve the flat riverside route 15 to Belem.""",
}
QUESTIONS = [
    "How does the waggle dance encode the distance to the food?",
    "Why does sourdough rise without baker's yeast?",
    "When were Lisbon's trams electrified?",
]


def write_notes(directory: Path) -> Path:
    """Write the sample notes as ``.txt`` files into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in NOTES.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def ingest(memos: MemOS, directory: Path, *, chunk_size: int = 300, chunk_overlap: int = 40) -> dict[str, int]:
    """Load ``directory/*.txt``, split them and store each chunk with its provenance; returns chunks per file."""
    with warnings.catch_warnings():  # langchain-community announces its sunset on import
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.document_loaders import DirectoryLoader, TextLoader

    documents = DirectoryLoader(str(directory), glob="*.txt", loader_cls=TextLoader).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)
    cubes, counts = [], {}
    for document in sorted(documents, key=lambda d: d.metadata["source"]):
        name = Path(document.metadata["source"]).name
        for index, chunk in enumerate(splitter.split_documents([document])):
            ref = f"{name}#{index}"
            start = chunk.metadata["start_index"]
            cubes.append(MemCube(chunk.page_content, LIBRARY, key=ref, source="document",
                                 metadata={"source": name, "chunk": index, "start_index": start},
                                 provenance=[Provenance(kind="document", ref=ref,
                                                        detail={"path": document.metadata["source"], "chunk": index})]))
        counts[name] = sum(1 for c in cubes if c.metadata["source"] == name)
    memos.add(cubes, LIBRARY)
    return counts


def search_documents_tool(memos: MemOS, k: int = 3) -> BaseTool:
    """The ``search_documents`` tool: the best chunks of the library, each with its source and why it matched."""

    @tool
    def search_documents(query: str) -> str:
        """Search the ingested documents; returns passages with their sources."""
        hits = memos.search(query, LIBRARY, k=k)
        hits = [h for h in hits if h.score >= 0.5 * hits[0].score]  # only passages close to the best one
        return "\n\n".join(f"[{h.cube.provenance[0].ref}] ({h.why})\n{' '.join(h.cube.content.split())}"
                           for h in hits) or "No passage matches."

    return search_documents


_PASSAGE = re.compile(r"^\[([^\]]+)\] \([^)]*\)\n(.+)$", re.MULTILINE)


def research_script(messages: list[BaseMessage]) -> AIMessage:
    """The offline model: search first, then answer with the best passage and the sources it got."""
    results = tool_results(messages)
    if not results:
        return call("search_documents", {"query": last_human(messages)})
    passages = _PASSAGE.findall(results[-1])
    if not passages:
        return AIMessage("The documents do not say.")
    return AIMessage(f"{passages[0][1]}\n\nSources: " + ", ".join(ref for ref, _ in passages))


def run(memos: MemOS, model: Any, docs: Path) -> dict[str, Any]:
    """Ingest ``docs`` (twice: the second pass replaces), then ask every question; returns what happened."""
    counts = ingest(memos, docs)
    stored = len(memos.list(LIBRARY, limit=1000))
    ingest(memos, docs)
    print(f"ingested {stored} chunks from {docs}: {counts}; after a second ingest: "
          f"{len(memos.list(LIBRARY, limit=1000))} chunks")
    agent = create_memos_agent(model, [search_documents_tool(memos)], memory=memos, system_prompt=SYSTEM_PROMPT)
    answers: dict[str, dict[str, Any]] = {}
    for number, question in enumerate(QUESTIONS):
        recorder = PromptRecorder()
        config = {"configurable": {"thread_id": f"q{number}", "user_id": USER}, "callbacks": [recorder]}
        state = agent.invoke({"messages": [HumanMessage(question)]}, config)
        found = [m.text for m in state["messages"] if m.type == "tool"]
        print(f"\n== {question}\n   retrieved:\n     " + "\n     ".join(
            line for text in found for line in text.splitlines() if line.startswith("[")))
        print("   answer:", state["messages"][-1].text.replace("\n", "\n   "))
        answers[question] = {"tool_results": found, "answer": state["messages"][-1].text,
                             "model_inputs": [[m.text for m in c] for c in recorder.calls]}
    chunks = [{"ref": c.provenance[0].ref, **c.metadata} for c in memos.list(LIBRARY, limit=1000)]
    return {"ingested": counts, "chunks": chunks, "answers": answers}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the recipe; returns :func:`run`'s result."""
    parser = argparse.ArgumentParser(prog="python -m cookbook.research_agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", help="a directory of .txt files (default: the sample notes, written to a temp dir)")
    add_memory_options(parser)
    args = parser.parse_args(argv)
    with open_memory(args) as memos, tempfile.TemporaryDirectory(prefix="memos-notes-") as tmp:
        docs = Path(args.docs) if args.docs else write_notes(Path(tmp))
        return run(memos, chat_model(research_script), docs)


if __name__ == "__main__":
    main()
