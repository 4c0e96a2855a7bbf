"""A small thread-safe least-recently-used cache, bounded by a number of entries or by
their total size: decoded preview blocks and planes, the server's Slicers.

>>> cache = LRUCache(max_items=2)
>>> cache.put("a", 1); cache.put("b", 2); cache.get("a"); cache.put("c", 3)
1
>>> list(cache.keys())
['a', 'c']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """Entries beyond ``max_items``, or beyond ``max_size`` in all (each entry weighing
    ``size(value)``; the newest is kept even if it alone weighs more), are dropped
    least recently used first;
    ``on_evict(key, value)`` is called (under the cache's lock) for each one dropped so.
    Replacing a key or :meth:`pop` does not call it. Thread-safe.

    >>> blocks = LRUCache(max_size=10, size=len)
    >>> blocks.put(1, "abcdef"); blocks.put(2, "ghijkl"); list(blocks.keys()), blocks.total
    ([2], 6)
    """

    def __init__(
        self,
        max_items: int | None = None,
        *,
        max_size: int | None = None,
        size: Callable[[V], int] | None = None,
        on_evict: Callable[[K, V], None] | None = None,
    ) -> None:
        if max_size is not None and size is None:
            raise ValueError("max_size needs size=, the size of one value")
        self.max_items = max_items
        self.max_size = max_size
        self._size = size
        self._on_evict = on_evict
        self._items: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key`` (now the most recently used), else ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` as the most recently used, dropping the oldest beyond the bounds."""
        with self._lock:
            if key in self._items:
                self._total -= self._weigh(self._items.pop(key))
            self._items[key] = value
            self._total += self._weigh(value)
            while self._items and self._over():
                old_key, old = self._items.popitem(last=False)
                self._total -= self._weigh(old)
                if self._on_evict is not None:
                    self._on_evict(old_key, old)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Remove ``key`` and return its value (``default`` if absent)."""
        with self._lock:
            if key not in self._items:
                return default
            value = self._items.pop(key)
            self._total -= self._weigh(value)
            return value

    def pop_where(self, predicate: Callable[[K], bool]) -> list[V]:
        """Remove every entry whose key satisfies ``predicate``; returns their values."""
        with self._lock:
            keys = [k for k in self._items if predicate(k)]
            values = [self._items.pop(k) for k in keys]
            self._total -= sum(self._weigh(v) for v in values)
            return values

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._total = 0

    def keys(self) -> list[K]:
        """Keys, least recently used first."""
        with self._lock:
            return list(self._items)

    @property
    def total(self) -> int:
        """The summed ``size`` of the entries (0 without ``size``)."""
        return self._total

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def _weigh(self, value: V) -> int:
        return int(self._size(value)) if self._size is not None else 0

    def _over(self) -> bool:
        if self.max_items is not None and len(self._items) > self.max_items:
            return True
        return self.max_size is not None and self._total > self.max_size and len(self._items) > 1
