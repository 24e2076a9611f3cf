"""The AudioSet ontology over the 527 labels: descriptions, parents, children, ancestors.

Read from the copy shipped in `vida_core/resources/audioset_ontology.json` (CC BY-SA 4.0, see
ATTRIBUTION.md there). The ontology has 632 classes; the 527 labels are a subset, linked
through classes outside it (e.g. "Domestic sounds, home sounds"), so relations are computed on
the whole tree and then read at the 527.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


class Ontology:
    def __init__(self, nodes: list[dict], label_mids: list[str]):
        self.nodes = {node["id"]: node for node in nodes}
        self.label_mids = list(label_mids)
        self.index_of = {mid: i for i, mid in enumerate(self.label_mids)}
        self.parents: dict[str, list[str]] = {mid: [] for mid in self.nodes}
        for node in nodes:
            for child in node["child_ids"]:
                self.parents.setdefault(child, []).append(node["id"])
        # The seven top-level categories ("Human sounds", "Animal", "Music", ...).
        self.top_level = {mid for mid, parents in self.parents.items() if not parents}

    def description(self, index: int) -> str:
        return self.nodes.get(self.label_mids[index], {}).get("description", "")

    def _labels(self, mids, stop_at_top: bool) -> list[int]:
        return sorted({self.index_of[m] for m in mids
                       if m in self.index_of and not (stop_at_top and m in self.top_level)})

    def ancestor_mids(self, mid: str) -> set[str]:
        seen, todo = set(), list(self.parents.get(mid, []))
        while todo:
            parent = todo.pop()
            if parent not in seen:
                seen.add(parent)
                todo.extend(self.parents.get(parent, []))
        return seen

    def ancestors(self, index: int, below_top: bool = True) -> list[int]:
        """Label indices of every ancestor; `below_top` leaves out the top-level categories,
        which would make "Dog" and "Cat" (both under "Animal") related."""
        return self._labels(self.ancestor_mids(self.label_mids[index]), below_top)

    def _nearest_labels(self, start: str, step) -> set[str]:
        """Walk `step` (parents or children) from `start` through classes outside the 527 until
        labels are reached: the nearest label-level relatives in that direction."""
        found, frontier, seen = set(), list(step(start)), {start}
        while frontier:
            nxt = []
            for mid in frontier:
                if mid in seen:
                    continue
                seen.add(mid)
                if mid in self.index_of:
                    found.add(mid)
                else:
                    nxt.extend(step(mid))
            frontier = nxt
        return found

    def relatives(self, index: int) -> dict[str, list[int]]:
        """Nearest label-level parents, children and siblings of a label.

        Siblings share a parent below the top-level categories ("Maraca" and "Tambourine"
        under "Percussion"), not merely a top-level one.
        """
        mid = self.label_mids[index]
        parents = self._nearest_labels(mid, lambda m: self.parents.get(m, []))
        children = self._nearest_labels(mid, lambda m: self.nodes.get(m, {}).get("child_ids", []))
        siblings = set()
        for parent in self.parents.get(mid, []):
            if parent not in self.top_level:
                siblings |= self._nearest_labels(parent, lambda m: self.nodes.get(m, {}).get("child_ids", []))
        siblings -= {mid} | parents | children
        return {"parent": self._labels(parents, False), "child": self._labels(children, False),
                "sibling": self._labels(siblings, False)}

    def related(self, a: int, b: int) -> bool:
        """One label is the other, or its ancestor below the top-level categories."""
        return a == b or a in self.ancestors(b) or b in self.ancestors(a)


@lru_cache(maxsize=1)
def audioset_ontology() -> Ontology:
    from vida_core.models.specs import audioset_labels

    nodes = json.loads((RESOURCES / "audioset_ontology.json").read_text())
    return Ontology(nodes, [label["mid"] for label in audioset_labels()])
