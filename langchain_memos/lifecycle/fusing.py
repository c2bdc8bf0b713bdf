"""The fuse steps of :class:`~langchain_memos.lifecycle.MemLifecycle`: dedup, conflicts, summaries.

:class:`FusionSteps` is mixed into ``MemLifecycle``: it reads candidates through the
lifecycle's queries, plans with the pure functions of :mod:`.fuse` and
:func:`~langchain_memos.engine.apply_update`, and commits each unit with the lifecycle's
version-checked commit (one transaction per merge, per supersede, per batch of summaries).

Example:
    >>> from langchain_memos.lifecycle import MemLifecycle
    >>> issubclass(MemLifecycle, FusionSteps)
    True
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Sequence

from ..cube import HOT_TIERS, MemCube, MemoryType, Status, Tier
from ..ingest import PlannedCube
from ..policy.llm_budget import fit_texts
from ..policy.tiers import is_redundant
from ..storage.base import AuditRecord, ns_key
from .config import LifecycleConfig
from .fuse import (
    cluster_by_similarity,
    contradicts,
    extractive_summary,
    merged_provenance,
    near_duplicate,
    segment_thread,
    summary_key,
)
from .reports import LifecycleStats

if TYPE_CHECKING:  # pragma: no cover
    from ..memos import MemOS
    from ..policy.llm_budget import BudgetedLLM

_SUMMARY_SYSTEM = ("You compress memories of a conversation. Write one short factual summary that keeps every "
                   "name, date, number, place, preference and decision. Plain text, no preamble.")
_CONFLICT_SYSTEM = ("You check memories for contradictions. Answer YES if the NEWER statement makes the OLDER one "
                    "no longer true (a changed value, a negation), otherwise NO. Answer with one word.")


class FusionSteps:
    """Dedup, conflict resolution and summaries (mixed into :class:`~langchain_memos.lifecycle.MemLifecycle`).

    Uses the lifecycle's state (``memos``, ``config``, ``stats``, ``llm``) and steps (``now``,
    ``heat``, ``_cubes``, ``_update``, ``_commit``).
    """

    memos: MemOS
    config: LifecycleConfig
    stats: LifecycleStats
    llm: BudgetedLLM

    def _unseen(self, namespace: Sequence[str], what: str, ids: Sequence[str] | None) -> tuple[list[MemCube], list[str]]:
        """Hot cubes a background step has not checked yet (or the given ``ids``), and every hot id now.

        The ids checked by the last pass are kept in the store's meta table (not a time
        watermark, so replays on a simulated clock and late commits are never skipped).
        """
        if ids is not None:
            return self._cubes((), ids=ids, tiers=HOT_TIERS), []
        cubes = self._cubes(namespace, tiers=HOT_TIERS)
        raw = self.memos.engine.setting(f"lifecycle:{what}:{ns_key(tuple(namespace))}")
        seen = set(json.loads(raw)) if raw else set()
        return [c for c in cubes if c.id not in seen], [c.id for c in cubes]

    def _mark_seen(self, namespace: Sequence[str], what: str, ids: Sequence[str]) -> None:
        self.memos.engine.set_setting(f"lifecycle:{what}:{ns_key(tuple(namespace))}", json.dumps(sorted(ids)))

    def _neighbours(self, cube: MemCube, vector: Sequence[float], k: int, min_cosine: float) -> list[tuple[MemCube, float]]:
        found = self.memos.engine.nearest(vector, k + 1, namespace=cube.namespace, tiers=HOT_TIERS)
        ids = [h.id for h in found if h.id != cube.id and h.score >= min_cosine]
        if not ids:
            return []
        scores = {h.id: h.score for h in found}
        others = self.memos.engine.load(ids)
        return [(o, scores[o.id]) for o in others if o is not None and o.namespace == cube.namespace]

    def dedup(self, namespace: Sequence[str] = (), *, ids: Sequence[str] | None = None) -> int:
        """Merge near-identical cubes (new ones since the last pass, or ``ids``); returns duplicates merged.

        The older cube survives: it gains the duplicate's provenance (and a ``kind="cube"``
        entry for it), the higher importance and the union of tags; the duplicate moves to
        the archive with status ``fused`` and ``metadata["fused_into"]``. One transaction per merge.
        """
        cfg = self.config.fuse
        if not cfg.dedup:
            return 0
        todo, hot_ids = self._unseen(namespace, "dedup", ids)
        todo = [c for c in todo if not is_redundant(c) and c.memory_type is not MemoryType.SUMMARY]
        vectors = self.memos.engine.stored_vectors([c.id for c in todo])
        merged = 0
        gone: set[str] = set()
        for c in todo:
            if c.id in gone or c.id not in vectors:
                continue
            for other, cos in self._neighbours(c, vectors[c.id], cfg.dedup_neighbours, cfg.dedup_cosine):
                if other.id in gone or is_redundant(other) or other.memory_type is not c.memory_type:
                    continue
                if not near_duplicate(c.content, other.content, cos, min_cosine=cfg.dedup_cosine,
                                      min_ratio=cfg.dedup_text_ratio):
                    continue
                current = self.memos.engine.load([c.id])[0]
                if current is None or is_redundant(current):
                    break
                survivor, dup = sorted((current, other), key=lambda x: (x.created_at, x.id == c.id))
                if self._merge(survivor, dup, cos):
                    merged += 1
                    gone.add(dup.id)
                    self.stats.deduplicated += 1
                break
        if ids is None:
            self._mark_seen(namespace, "dedup", [i for i in hot_ids if i not in gone])
        return merged

    def _merge(self, survivor: MemCube, dup: MemCube, cosine: float) -> bool:
        actor = self.config.actor
        prov = merged_provenance([survivor, dup])
        prov = [p for p in prov if not (p.kind == "cube" and p.ref == survivor.id)]
        keep = self._update(survivor, {
            "provenance": prov, "importance": max(survivor.importance, dup.importance),
            "tags": tuple(dict.fromkeys((*survivor.tags, *dup.tags))),
        }, "dedup")
        folded = self._update(dup, {
            "tier": Tier.ARCHIVE, "status": Status.FUSED,
            "metadata": {**dup.metadata, "fused_into": survivor.id},
        }, "dedup")
        ok = self._commit([keep, folded], {survivor.id: survivor, dup.id: dup})
        if ok:
            self.stats.archived += 1
            self.memos.engine.audit([_audit("fuse", dup, self.now(), actor,
                                             f"near-duplicate of {survivor.id} (cosine {cosine:.3f})",
                                             {"into": survivor.id})])
        return ok

    def resolve_conflicts(self, namespace: Sequence[str] = (), *, ids: Sequence[str] | None = None) -> int:
        """Supersede facts contradicted by newer ones (new cubes since the last pass, or ``ids``).

        Candidates are similar cubes (cosine >= ``conflict_min_cosine``) of the conflict
        types that are not near-duplicates; the model decides when one is given (within
        its budget), else the no-LLM rules of :func:`~.fuse.contradicts`. Returns how
        many cubes were superseded.
        """
        cfg = self.config.fuse
        if not cfg.conflicts:
            return 0
        todo, hot_ids = self._unseen(namespace, "conflicts", ids)
        todo = [c for c in todo if c.memory_type in cfg.conflict_types and c.valid_to is None
                and not is_redundant(c)]
        vectors = self.memos.engine.stored_vectors([c.id for c in todo])
        done = 0
        for c in todo:
            if c.id not in vectors:
                continue
            for other, cos in self._neighbours(c, vectors[c.id], cfg.dedup_neighbours, cfg.conflict_min_cosine):
                if (other.memory_type not in cfg.conflict_types or other.valid_to is not None
                        or is_redundant(other)):
                    continue
                if near_duplicate(c.content, other.content, cos, min_cosine=cfg.dedup_cosine,
                                  min_ratio=cfg.dedup_text_ratio):
                    continue
                older, newer = sorted((c, other), key=lambda x: (x.valid_from or x.created_at, x.created_at,
                                                                 x.id == c.id))
                reason = self._contradiction(older, newer)
                if reason and self.supersede(older.id, newer.id, reason=reason):
                    done += 1
                    if older.id == c.id:
                        break
        if ids is None:
            self._mark_seen(namespace, "conflicts", hot_ids)
        return done

    def _contradiction(self, older: MemCube, newer: MemCube) -> str | None:
        cfg = self.config.fuse
        if cfg.conflict_llm and self.llm.model is not None:
            answer = self.llm.ask(_CONFLICT_SYSTEM, f"OLDER: {older.content}\nNEWER: {newer.content}")
            if answer is not None:
                word = answer.strip().split()[0].strip(".,!:").upper() if answer.strip() else ""
                if word in ("YES", "NO"):
                    return "contradiction (model)" if word == "YES" else None
        return contradicts(older.content, newer.content)

    def supersede(self, old_id: str, new_id: str, *, reason: str = "superseded") -> bool:
        """Mark ``old_id`` as superseded by ``new_id``: ``valid_to`` = the new fact's start,
        ``metadata["superseded_by"]``, a history entry (reason ``"supersede"``) and an audit record.

        Both cubes stay searchable; ``as_of`` searches see the old fact only while it held.
        """
        old, new = self.memos.engine.load([old_id, new_id])
        if old is None or new is None or old.valid_to is not None:
            return False
        until = new.valid_from or new.created_at
        if old.valid_from is not None and until <= old.valid_from:
            until = old.valid_from + timedelta(microseconds=1)
        planned = self._update(old, {
            "valid_to": until, "metadata": {**old.metadata, "superseded_by": new.id},
        }, "supersede")
        if not self._commit([planned], {old.id: old}):
            return False
        self.stats.superseded += 1
        self.memos.engine.audit([_audit("supersede", old, self.now(), self.config.actor, reason, {"by": new.id})])
        return True

    def summarize(self, namespace: Sequence[str] = ()) -> int:
        """Fold clusters of cold episodic cubes in the long-term tier into summary cubes; returns summaries written.

        Threaded cubes are cut into topical segments of consecutive units
        (:func:`~.fuse.segment_thread`); unthreaded ones are clustered by similarity.
        A summary (memory type ``summary``, long-term tier, a deterministic key) keeps the
        provenance of every source; its sources move to the archive with status
        ``fused`` and ``metadata["fused_into"]``, where :meth:`search` reaches them
        through the summary. One transaction per batch of clusters.
        """
        cfg = self.config.fuse
        if not cfg.summarize:
            return 0
        pool = [c for c in self._cubes(namespace, tiers=(Tier.LONG_TERM,), types=cfg.summarize_types)
                if not is_redundant(c) and c.status is not Status.FUSED
                and (cfg.summarize_max_heat is None or self.heat(c) < cfg.summarize_max_heat)]
        if len(pool) < cfg.cluster_min_size:
            return 0
        vectors = self.memos.engine.stored_vectors([c.id for c in pool])
        groups: dict[tuple[tuple[str, ...], str | None], list[MemCube]] = {}
        for c in pool:
            groups.setdefault((c.namespace, c.thread_id if c.position is not None else None), []).append(c)
        clusters: list[list[MemCube]] = []
        for (_, thread), members in groups.items():
            by_id = {c.id: c for c in members}
            if thread is None:
                parts = cluster_by_similarity([(c.id, vectors.get(c.id)) for c in members],
                                              max_size=cfg.cluster_max_size, join_cosine=cfg.cluster_break_cosine)
            else:
                members.sort(key=lambda c: c.position)  # type: ignore[arg-type, return-value]
                runs: list[list[MemCube]] = [[members[0]]]
                for prev, c in zip(members, members[1:]):
                    if c.position == prev.position + 1:  # type: ignore[operator]
                        runs[-1].append(c)
                    else:
                        runs.append([c])
                parts = []
                for run in runs:
                    parts.extend(segment_thread([(c.id, vectors.get(c.id)) for c in run],
                                                max_size=cfg.cluster_max_size, min_size=cfg.cluster_min_size,
                                                break_cosine=cfg.cluster_break_cosine))
            clusters.extend([by_id[i] for i in part] for part in parts if len(part) >= cfg.cluster_min_size)
        written = 0
        for start in range(0, len(clusters), 16):
            batch = clusters[start:start + 16]
            planned: list[PlannedCube] = []
            expected: dict[str, MemCube] = {}
            for sources in batch:
                planned.extend(self._plan_summary(sources))
                expected.update({s.id: s for s in sources})
            if self._commit(planned, expected):
                written += len(batch)
                n_sources = sum(len(b) for b in batch)
                self.stats.summaries += len(batch)
                self.stats.summarized += n_sources
                self.stats.archived += n_sources
        return written

    def _plan_summary(self, sources: list[MemCube]) -> list[PlannedCube]:
        cfg = self.config.fuse
        sources = sorted(sources, key=lambda c: (c.created_at, c.position or 0, c.id))
        content = None
        if cfg.summary_llm and self.llm.model is not None:
            budget = self.llm.budget.max_input_tokens - 120
            lines = fit_texts([f"- {s.content}" for s in sources], budget)
            when = sources[0].created_at.date().isoformat()
            content = self.llm.ask(_SUMMARY_SYSTEM, f"Memories from {when}:\n" + "\n".join(lines))
        if not content:
            content = extractive_summary([s.content for s in sources], [s.importance for s in sources],
                                         cfg.summary_max_tokens)
        summary = MemCube(
            content=content, namespace=sources[0].namespace, key=summary_key([s.id for s in sources]),
            memory_type=MemoryType.SUMMARY, tier=Tier.LONG_TERM, status=Status.GENERATED,
            metadata={"summary_of": len(sources)}, created_at=sources[0].created_at,
            last_accessed_at=max((s.last_accessed_at for s in sources if s.last_accessed_at), default=None),
            importance=max(s.importance for s in sources),
            valid_from=min((s.valid_from for s in sources if s.valid_from), default=None),
            provenance=merged_provenance(sources, detach_threads=True),
            tags=tuple(dict.fromkeys(t for s in sources for t in s.tags)),
            owner=sources[0].owner, permissions=sources[0].permissions, source="lifecycle:summary",
        )
        planned = [PlannedCube.for_cube(summary, reembed=True)]
        for s in sources:
            planned.append(self._update(s, {
                "tier": Tier.ARCHIVE, "status": Status.FUSED, "metadata": {**s.metadata, "fused_into": summary.id},
            }, "summarize"))
        return planned


def _audit(action: str, cube: MemCube, at: datetime, actor: str, reason: str, detail: dict[str, Any]) -> Any:
    return AuditRecord(action=action, cube_id=cube.id, namespace=cube.namespace, at=at, actor=actor, reason=reason,
                       detail=detail)


__all__ = ["FusionSteps"]
