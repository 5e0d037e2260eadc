"""List answers that page through ``starting_after`` by themselves when iterated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Generator, Iterator
from typing import (
    Any,
    Callable,
    Generic,
    Optional,
    TypeVar,
)

from payments_client.models import PaymentsObject, ResponseInfo

T = TypeVar("T", bound=PaymentsObject)


class Page(Generic[T]):
    """One page of a list (``items``, ``has_more``); iterating it walks every later page too."""

    def __init__(
        self,
        items: list[T],
        has_more: bool,
        fetch_next: Optional[Callable[[str], Page[T]]],
        info: Optional[ResponseInfo] = None,
    ) -> None:
        self.items = items
        self.has_more = has_more
        self.object = "list"
        self._fetch_next = fetch_next
        self.last_response = info

    def next_page(self) -> Optional[Page[T]]:
        """The page after this one, or None when this is the last."""
        if not self.has_more or not self.items or self._fetch_next is None:
            return None
        return self._fetch_next(_last_id(self.items))

    def auto_paging_iter(self) -> Iterator[T]:
        page: Optional[Page[T]] = self
        while page is not None:
            yield from page.items
            page = page.next_page()

    def __iter__(self) -> Iterator[T]:
        return self.auto_paging_iter()

    def __len__(self) -> int:
        """The number of items on this page (not of the whole list)."""
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "list",
            "items": [item.to_dict() for item in self.items],
            "has_more": self.has_more,
        }

    def __repr__(self) -> str:
        return f"Page(items={len(self.items)}, has_more={self.has_more})"


class AsyncPage(Generic[T]):
    """One page of a list; ``async for`` over it walks every later page too."""

    def __init__(
        self,
        items: list[T],
        has_more: bool,
        fetch_next: Optional[Callable[[str], Awaitable[AsyncPage[T]]]],
        info: Optional[ResponseInfo] = None,
    ) -> None:
        self.items = items
        self.has_more = has_more
        self.object = "list"
        self._fetch_next = fetch_next
        self.last_response = info

    async def next_page(self) -> Optional[AsyncPage[T]]:
        if not self.has_more or not self.items or self._fetch_next is None:
            return None
        return await self._fetch_next(_last_id(self.items))

    async def auto_paging_iter(self) -> AsyncIterator[T]:
        page: Optional[AsyncPage[T]] = self
        while page is not None:
            for item in page.items:
                yield item
            page = await page.next_page()

    def __aiter__(self) -> AsyncIterator[T]:
        return self.auto_paging_iter()

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": "list",
            "items": [item.to_dict() for item in self.items],
            "has_more": self.has_more,
        }

    def __repr__(self) -> str:
        return f"AsyncPage(items={len(self.items)}, has_more={self.has_more})"


class AsyncListing(Generic[T]):
    """What ``AsyncClient``'s ``list`` returns: ``await`` it for the first page, or
    ``async for`` over it for every item of every page."""

    def __init__(self, first: Callable[[], Awaitable[AsyncPage[T]]]) -> None:
        self._first = first

    def __await__(self) -> Generator[Any, None, AsyncPage[T]]:
        return self._first().__await__()

    async def _items(self) -> AsyncIterator[T]:
        page = await self._first()
        async for item in page:
            yield item

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()


def _last_id(items: list[Any]) -> str:
    return str(items[-1].id)
