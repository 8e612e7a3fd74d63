"""Parsed templates, kept: parsing a large template takes seconds, rendering it far less.

Every TEMPLATE email, every RenderMessageTemplate and every write of a template reads the
same few texts again. A parsed template is kept, the least recently used going first, while
what is kept fits in a memory budget. A tree takes about 2 bytes per character of text and
700 per tag, so a large template of little but tags (megabytes of `{{a}}`) is too big to
keep and is parsed each time instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from connectmail.templates import handlebars

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BUDGET_BYTES = 64 * 1024 * 1024


class Kept(Generic[K, V]):
    """Values by key, the least recently used dropped first to keep their weight in budget.

    Safe to share between threads: reader threads, writer threads and the event loop all use
    the caches here.
    """

    def __init__(self, budget: int, weight: Callable[[K, V], int] = lambda key, value: 1):
        self.budget = budget
        self._weight = weight
        self._kept: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            self._kept.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V) -> None:
        weight = self._weight(key, value)
        if weight > self.budget:
            return
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return
            self._kept[key] = (value, weight)
            self._used += weight
            while self._used > self.budget:
                _, (_, dropped) = self._kept.popitem(last=False)
                self._used -= dropped


def size_of(text: str) -> int:
    """About the bytes the parsed tree of `text` takes."""
    return 2 * len(text) + 700 * text.count("{{")


_TEMPLATES: Kept[str, handlebars.Template] = Kept(
    BUDGET_BYTES, lambda text, template: size_of(text)
)


def parse(text: str) -> handlebars.Template:
    """`handlebars.parse(text)`, kept for the next time; raises TemplateError."""
    template = _TEMPLATES.get(text)
    if template is None:
        # Two threads may parse the same text at once: harmless, and no lock is held meanwhile.
        template = handlebars.parse(text)
        _TEMPLATES.put(text, template)
    return template
