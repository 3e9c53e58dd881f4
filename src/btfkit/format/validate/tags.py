"""Pass 3: in a chain of modifiers, every TYPE_TAG must come before the others."""

from __future__ import annotations

from ...format.kinds import (
    Kind,
)
from .common import (
    _MAX_RESOLVE_DEPTH,
    _MOD,
)
from .state import _State


class _TypeTags(_State):
    def _check_type_tags(self) -> None:
        """In a chain of modifiers, every TYPE_TAG must come before the others."""
        kinds = self.kinds
        good = self.start - 1  # IDs up to here are checked already
        for tid in range(self.start, self.count):
            k = kinds[tid]
            if not _MOD[k]:
                continue
            in_tags = k == Kind.TYPE_TAG
            cur, limit = tid, _MAX_RESOLVE_DEPTH
            while _MOD[k]:
                if not limit:
                    self.fail(tid, "modifier chain too long or cyclic")
                limit -= 1
                if k == Kind.TYPE_TAG:
                    if not in_tags:
                        self.fail(tid, f"TYPE_TAG [{cur}] after another modifier")
                else:
                    in_tags = False
                if cur <= good:
                    break
                cur = self.size_word(cur)
                k = self.kind(cur)
            good = tid
