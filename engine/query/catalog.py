"""Categories and keywords as the compilers see them (read from the database once per query)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    name: str
    object_table: str
    keywords: dict[str, tuple[int, str]]  # lowercase keyword -> (id, keyword as written)


@dataclass
class CategoryCatalog:
    """Categories by object table; ``load`` reads them, tests and benchmarks may build one directly."""

    by_table: dict[str, dict[str, CategoryInfo]] = field(default_factory=dict)

    @classmethod
    def load(cls) -> CategoryCatalog:
        from engine.models import Category, Keyword

        keywords: dict[int, dict[str, tuple[int, str]]] = {}
        for keyword_id, category_id, name in Keyword.objects.values_list("id", "category_id", "name"):
            keywords.setdefault(category_id, {})[name.lower()] = (keyword_id, name)
        catalog = cls()
        for category_id, name, table in Category.objects.values_list("id", "name", "object_table"):
            info = CategoryInfo(category_id, name, table, keywords.get(category_id, {}))
            catalog.by_table.setdefault(table, {})[name.lower()] = info
        return catalog

    def for_table(self, table_key: str) -> dict[str, CategoryInfo]:
        return self.by_table.get(table_key, {})


class LazyCatalog(CategoryCatalog):
    """Reads the categories the first time a query names one."""

    def __init__(self):
        super().__init__()
        self._loaded = False

    def for_table(self, table_key: str) -> dict[str, CategoryInfo]:
        if not self._loaded:
            self.by_table = CategoryCatalog.load().by_table
            self._loaded = True
        return super().for_table(table_key)
