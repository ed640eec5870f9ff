"""The bare baseline for bench/api_list.py: our list endpoints as a plain WSGI callable, no framework.

    BARE_DATABASE_URL=sqlite:////path/db.sqlite3 gunicorn --chdir bench 'bare_list:from_environment()'
    BARE_DATABASE_URL=postgresql://user@host:5432/db gunicorn --chdir bench 'bare_list:from_environment()'

It serves, from our migrated database (same tables, same indexes), the JSON our API serves for
GET /api/{environments,projects}/<id>/evaluations/, .../error_tracking/symbol_sets/ and
.../error_tracking/releases/ with the query parameters the benchmark sends: the same fields, nested
created_by / release objects, next/previous URLs, order and tie-break, and search semantics. Per request:
one key lookup (sha256 of the raw key, as api_keys stores it), one membership check, one count and one
page, with stdlib sqlite3 or psycopg and orjson. It is a yardstick, not a server: parameters the benchmark
does not send (id__in, ref) and the errors' exact wording are left out, and a key's last use is not noted
(our app writes that once an hour). bench/api_list.py checks its answers equal ours before timing.
"""

import hashlib
import os
import threading
import uuid
from urllib.parse import parse_qsl, quote, urlencode

import orjson

# webapp/config.py: API_DEFAULT_LIMIT, API_MAX_LIMIT.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MIN_INDEXED_SEARCH_LENGTH = 3  # SQLite's FTS5 trigram index needs three characters
# webapp/services/search.py: one-character words are bit tests of evaluations.search_chars (migration 0013).
SEARCH_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
# webapp/services/search_postgresql.py: a page of a search this many times longer than the rows it reads
# (offset + limit) walks the order's index instead of sorting every match.
WALK_FACTOR = 20
# webapp/services/search.py, WALK_COST_RATIO: when a page walks the order's index past SQLite's candidates.
WALK_COST_RATIO = 8
# Marks the key a condition tests against a set of candidates (SQLite: a page may walk past them, "+e.pk").
CANDIDATE_KEY = "{candidate_key}"
TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
JSON_HEADERS = [("Content-Type", "application/json")]


class SQLite:
    """Text, hex uuids and 0/1 booleans as SQLAlchemy stores them in SQLite, turned into our JSON."""

    param = "?"
    json = ""  # a JSON column reads as its text

    def __init__(self, path: str):
        self.path = path

    def connect(self):
        import sqlite3

        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # webapp/database.py's connection settings.
        connection.execute("PRAGMA busy_timeout=10000")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA mmap_size=1073741824")
        return connection

    @staticmethod
    def uuid_text(value):
        return (
            None if value is None else f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
        )

    @staticmethod
    def uuid_object(value) -> uuid.UUID:
        return uuid.UUID(hex=value)

    @staticmethod
    def datetime(value):
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; isoformat() leaves out a zero fraction.
        if value is None:
            return None
        fraction = value[20:26]
        return f"{value[:10]}T{value[11:19]}{'' if fraction == '000000' else '.' + fraction}Z"

    @staticmethod
    def boolean(value):
        return None if value is None else bool(value)

    @staticmethod
    def like(column: str) -> str:
        # SQLite's LIKE folds ASCII case only, as lower() does: the same rows as our lower(x) LIKE lower(y).
        return f"{column} LIKE ? ESCAPE '\\'"

    indexes_words = True
    walks = False  # its search pages read the few rows the full-text index gives

    @staticmethod
    def fts_rows(table: str, terms: list[str]) -> tuple[str, str]:
        """The rows whose FTS5 trigram index entry contains every term (each an exact phrase)."""
        return (
            f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?",
            " AND ".join('"' + term.replace('"', '""') + '"' for term in dict.fromkeys(terms)),
        )


class PostgreSQL:
    """psycopg's own types: uuid and datetime objects (UTC session) go straight to orjson."""

    param = "%s"
    json = "::text"  # hand the stored JSON text to orjson as it is

    def __init__(self, url: str, options: str = ""):
        self.url, self.options = url, options

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, options=f"-c TimeZone=UTC {self.options}".strip())

    @staticmethod
    def uuid_text(value):
        return value

    @staticmethod
    def uuid_object(value) -> uuid.UUID:
        return value

    @staticmethod
    def datetime(value):
        return value

    @staticmethod
    def boolean(value):
        return value

    @staticmethod
    def like(column: str) -> str:
        return f"{column} ILIKE %s ESCAPE '\\'"

    indexes_words = False  # LIKE on the lowered text, which its trigram index answers
    walks = True  # a search matching many rows: its page walks the order's index


def fragment(text):
    """Stored JSON text, embedded as it is (without the leading space that marks our canonical text)."""
    if not isinstance(text, str):
        return text  # NULL, or a number SQLite stored as one
    return orjson.Fragment(text[1:] if text.startswith(" ") else text)


def search_words(term: str) -> tuple[list[str], list[str]]:
    """The distinct words of a search (each must match): (3+ characters, shorter)."""
    words = list(dict.fromkeys(term.split()))
    return (
        [word for word in words if len(word) >= MIN_INDEXED_SEARCH_LENGTH],
        [word for word in words if len(word) < MIN_INDEXED_SEARCH_LENGTH],
    )


# webapp/services/search.py: what FTS5 folds into ASCII letters where LIKE does not (migration 0015).
FOLDED_INTO_ASCII = "\u212a\u017f"
# webapp/services/search_postgresql.py: the longest word the words table answers (migration 0015).
MAX_COUNTED_LENGTH = 65


def trigram_sample(word: str) -> list[str]:
    """What our services ask SQLite's index for an ASCII word on a page: its first, a middle and its last
    trigram (LIKE rechecks the candidates)."""
    trigrams = [word[start : start + 3] for start in range(len(word) - 2)]
    return [trigrams[0], trigrams[len(trigrams) // 2], trigrams[-1]]


def evaluation_search(db, term: str, walk: bool = False, count: bool = False) -> tuple[list[str], list]:
    """Conditions and parameters for every word of `term` in the name, description or prompt, found
    the way our services find them (webapp/services/search.py); `walk` (PostgreSQL): for a page that
    walks the order's index, the words as one test no index answers; `count` (SQLite): for the count,
    whole phrases (exact candidates) instead of a page's trigram samples rechecked by LIKE."""
    conditions, params, fts_terms, rechecked = [], [], [], []
    if walk:
        return postgresql_walk(term)
    like_any = " OR ".join(db.like(f"e.{column}") for column in ("name", "description", "prompt"))
    for word in dict.fromkeys(term.split()):
        bit = SEARCH_CHARACTERS.find(word.lower()) if len(word) == 1 and word.isascii() else -1
        if bit >= 0:
            conditions.append(f"(e.search_chars & {1 << bit}) != 0")
        elif not db.indexes_words:
            condition, values = postgresql_word(word)
            conditions.append(condition)
            params += values
        elif len(word) == 2 and word.isascii():
            # Rows with an indexed trigram starting with the word, or a field ending in it (each field's
            # own index, named: SQLite would weigh it by its average rows per value).
            folded = word.lower()
            phrases = """coalesce(group_concat('"' || replace(term, '"', '""') || '"', ' OR '), ?)"""
            trigrams = f"SELECT {phrases} FROM evaluations_fts_vocab WHERE term >= ? AND term < ?"
            candidates = [f"SELECT rowid FROM evaluations_fts WHERE evaluations_fts MATCH ({trigrams})"]
            candidates += [
                f"SELECT pk FROM evaluations INDEXED BY ix_evaluations_{field}_end "
                f"WHERE lower(substr({field}, -2)) = ?"
                for field in ("name", "description", "prompt")
            ]
            conditions.append(f"{CANDIDATE_KEY} IN ({' UNION ALL '.join(candidates)})")
            params += ['"' + folded.replace('"', '""') + '"', folded, folded[0] + chr(ord(folded[1]) + 1)]
            params += [folded] * 3
            rechecked.append(word)
        elif len(word) < MIN_INDEXED_SEARCH_LENGTH:
            conditions.append(f"({like_any})")  # short words scan
            params += [like_pattern(word)] * 3
        elif count or not word.isascii():
            fts_terms.append(word)
            if word.isascii():
                rechecked.append(word)
        else:
            fts_terms += trigram_sample(word)
            conditions.append(f"({like_any})")
            params += [like_pattern(word)] * 3
    if fts_terms:
        rows, param = db.fts_rows("evaluations", fts_terms)
        conditions.insert(0, f"{CANDIDATE_KEY} IN ({rows})")
        params.insert(0, param)
    if rechecked:
        # The indexes' candidates are exact but for rows FTS5 folds into ASCII differently from LIKE.
        fields = ("name", "description", "prompt")
        found = " AND ".join("(" + " OR ".join(db.like(field) for field in fields) + ")" for _ in rechecked)
        conditions.append(
            f"{CANDIDATE_KEY} NOT IN (SELECT pk FROM evaluations INDEXED BY ix_evaluations_search_folded "
            f"WHERE (name || description || prompt) GLOB '*[{FOLDED_INTO_ASCII}]*' AND NOT ({found}))"
        )
        params += [like_pattern(word) for word in rechecked for _ in fields]
    return conditions, params


def postgresql_counted(term: str) -> tuple[list[str], list] | None:
    """PostgreSQL: the conditions on the words table (migration 0015) of a search whose words are all
    letters and digits (or one letter or digit), as webapp/services/search_postgresql.py counts them."""
    conditions, params = [], []
    for word in dict.fromkeys(term.split()):
        folded = word.lower()
        if len(word) == 1 and word.isascii() and folded in SEARCH_CHARACTERS:
            conditions.append(f"(e.search_chars & {1 << SEARCH_CHARACTERS.find(folded)}) != 0")
        elif 2 <= len(word) <= MAX_COUNTED_LENGTH and word.isascii() and word.isalnum():
            known = "SELECT array_agg(word) FROM evaluation_search_vocabulary WHERE "
            if len(word) == 2:
                conditions.append(f"e.words && ({known}word ~ %s OR word LIKE %s)")
                params += [folded + r"[\x01-\x7f]", "%" + folded]
            else:
                conditions.append(f"e.words && ({known}word LIKE %s)")
                params.append(like_pattern(folded))
        else:
            return None
    return (conditions, params) if params else None


def postgresql_word(word: str) -> tuple[str, list]:
    """PostgreSQL: `word` in the lowered text, as webapp/services/search_postgresql.py finds it. Two ASCII
    letters or digits: rows where the pair is followed by an ASCII character (the trigram index answers
    the regex), ends the text, or is followed by a non-ASCII character (a partial index, migration 0014),
    then strpos; other words: LIKE on the lowered text under its trigram index."""
    folded = word.lower()
    if all(c in SEARCH_CHARACTERS for c in folded) and len(word) == 2:
        wide = r"e.search_text ~ '[a-z0-9][^\x01-\x7f]'"
        condition = (
            f"(e.search_text ~ %s OR e.search_text LIKE %s OR {wide}) AND strpos(e.search_text, %s) > 0"
        )
        return condition, [folded + r"[\x01-\x7f]", "%" + folded, folded]
    return "e.search_text LIKE lower(%s) ESCAPE '\\'", [like_pattern(word)]


def postgresql_walk(term: str) -> tuple[list[str], list]:
    """PostgreSQL, a page that walks the order's index: one-character words as bit tests, the others in
    one condition (one estimate: the planner keeps the walk)."""
    conditions, words = [], []
    for word in dict.fromkeys(term.split()):
        bit = SEARCH_CHARACTERS.find(word.lower()) if len(word) == 1 and word.isascii() else -1
        if bit >= 0:
            conditions.append(f"(e.search_chars & {1 << bit}) != 0")
        else:
            words.append(word)
    if words:
        conditions.append(f"least({', '.join(['strpos(e.search_text, lower(%s))'] * len(words))}) > 0")
    return conditions, words


def like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class BadRequest(Exception):
    pass


class HTTPError(Exception):
    def __init__(self, status: str, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def query_state(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each parameter once with its last value, in first-seen order (what werkzeug's MultiDict gives)."""
    state: dict[str, str] = {}
    for name, value in pairs:
        state[name] = value
    return state


def whole_number(value: str, name: str) -> int:
    stripped = value.lstrip("-")
    if not stripped.isdigit() or not stripped.isascii():
        raise HTTPError("400 Bad Request", "invalid", f"'{value}' is not a whole number ({name}).")
    return int(value)


class ListEndpoint:
    """One list: its table, columns, filters and row shape."""

    scope = ""
    order_fields: dict[str, tuple[str, bool]] = {}  # name -> (column, nullable)
    tie_break = ""

    def __init__(self, database):
        self.db = database

    walks = False  # a search page may walk the order's index (Evaluations)

    def count_where(self, state: dict[str, str]) -> tuple[str, list[str], list] | None:
        """What a count reads other than the page's table and conditions: (FROM, conditions, parameters)."""
        return None

    def where(self, state: dict[str, str]) -> tuple[list[str], list]:
        raise NotImplementedError

    def select(self) -> tuple[str, str]:
        """The page's columns, and what joins the nested objects' rows (empty: none)."""
        raise NotImplementedError

    def row(self, row, cache: dict) -> dict:
        raise NotImplementedError

    def order(self, value: str | None) -> str:
        order: dict[str, str] = {}
        for item in (value or "").split(","):
            item = item.strip()
            if item:
                name = item[1:] if item.startswith("-") else item
                if name not in self.order_fields:
                    raise HTTPError("400 Bad Request", "invalid_choice", f"'{item}' is not a valid choice.")
                order.setdefault(name, item)
        items = list(order.values()) or ["-created_at"]
        terms = []
        for item in items:
            column, nullable = self.order_fields[item.lstrip("-")]
            direction = " DESC" if item.startswith("-") else ""
            # Never-set values last either way; NOT NULL columns need no clause (and keep their index).
            terms.append(f"{column}{direction}{' NULLS LAST' if nullable else ''}")
        terms.append(f"{self.tie_break}{' DESC' if items[0].startswith('-') else ''}")
        return ", ".join(terms)

    def page(self, connection, project_id: int, state: dict[str, str]) -> dict:
        conditions, params = self.where(state)
        where = " AND ".join([f"{self.alias}.project_id = {self.db.param}", *conditions])
        params = [project_id, *params]
        limit = whole_number(state["limit"], "limit") if "limit" in state else 0
        limit = min(limit, MAX_LIMIT) if limit > 0 else DEFAULT_LIMIT
        offset = max(whole_number(state["offset"], "offset"), 0) if "offset" in state else 0
        # SQLite's candidate sets (webapp/services/search.py, Search.for_page): the count also gives the
        # largest key, and the page walks the order's index past the candidates when that reads fewer
        # entries than sorting them all.
        walks = CANDIDATE_KEY in where
        bound = f", (SELECT max({self.tie_break.partition('.')[2]}) FROM {self.table})" if walks else ""
        counted = where.replace(CANDIDATE_KEY, self.tie_break)
        # Exact candidates are counted from the index led by the key (SQLite), or a search's words from the
        # words table (PostgreSQL): narrow entries, not the rows (webapp/services/search.py).
        source, count_params = f"{self.table} {self.alias}", params
        counting = self.count_where(state)
        if counting is not None:
            source, count_conditions, count_params = counting
            counted = " AND ".join([f"{self.alias}.project_id = {self.db.param}", *count_conditions])
            counted = counted.replace(CANDIDATE_KEY, self.tie_break)
            count_params = [project_id, *count_params]
        count, *largest = connection.execute(
            f"SELECT count(*){bound} FROM {source} WHERE {counted}", count_params
        ).fetchone()
        if walks:
            walk = count > 0 and (offset + limit) * (largest[0] or 0) <= WALK_COST_RATIO * count * count
            where = where.replace(CANDIDATE_KEY, f"+{self.tie_break}" if walk else self.tie_break)
        elif (
            self.walks
            and self.db.walks
            and state.get("search", "").strip()
            and count >= WALK_FACTOR * (offset + limit)
        ):
            conditions, params = self.where(state, walk=True)
            where = " AND ".join([f"{self.alias}.project_id = {self.db.param}", *conditions])
            params = [project_id, *params]
        p = self.db.param
        order = self.order(state.get("order_by"))
        columns, join = self.select()
        page = f"SELECT * FROM {self.table} {self.alias} WHERE {where} ORDER BY {order} LIMIT {p} OFFSET {p}"
        if join:
            # Join the page's rows only: joined before the LIMIT, a deep OFFSET would join every skipped row.
            page = f"SELECT {columns} FROM ({page}) {self.alias} {join} ORDER BY {order}"
        else:
            page = page.replace("SELECT *", f"SELECT {columns}", 1)
        rows = connection.execute(page, [*params, limit, offset]).fetchall()
        cache: dict = {}
        return {
            "count": count,
            "limit": limit,
            "offset": offset,
            "results": [self.row(row, cache) for row in rows],
        }


class Evaluations(ListEndpoint):
    scope = "evaluation"
    table, alias = "evaluations", "e"
    order_fields = {
        "created_at": ("e.created_at", False),
        "updated_at": ("e.updated_at", False),
        "name": ("e.name_sort_key", False),  # numeric-aware (webapp/models/natural_sort.py)
    }
    tie_break = "e.pk"

    walks = True

    def count_where(self, state):
        term = state.get("search", "").strip()
        if not term:
            return None
        if self.db.indexes_words:
            # SQLite: exact candidates, counted from the index led by the key.
            conditions, params = self.where(state, count=True)
            if not any(CANDIDATE_KEY in condition for condition in conditions):
                return None
            return "evaluations e INDEXED BY ix_evaluations_search_count", conditions, params
        # PostgreSQL: words of letters and digits, counted from the words table.
        words = postgresql_counted(term)
        if words is None:
            return None
        conditions, params = self.where({name: value for name, value in state.items() if name != "search"})
        return "evaluation_search e", conditions + words[0], params + words[1]

    def where(self, state, walk=False, count=False):
        p = self.db.param
        conditions, params = [f"e.deleted = {p}"], [False]
        if "enabled" in state:
            lowered = state["enabled"].strip().lower()
            if lowered not in TRUE | FALSE:
                raise HTTPError("400 Bad Request", "invalid", "Not a valid boolean (enabled).")
            conditions.append(f"e.enabled = {p}")
            params.append(lowered in TRUE)
        term = state.get("search", "").strip()
        if term:
            words, word_params = evaluation_search(self.db, term, walk, count)
            conditions += words
            params += word_params
        return conditions, params

    def select(self):
        j = self.db.json
        return (
            "e.id, e.name, e.description, e.enabled, e.prompt, e.conditions" + j + ", e.created_at, "
            "e.updated_at, e.deleted, u.id, u.uuid, u.distinct_id, u.first_name, u.last_name, u.email, "
            "u.is_email_verified, u.hedgehog_config" + j + ", u.role_at_organization",
            "LEFT JOIN users u ON u.id = e.created_by_id",
        )

    def row(self, row, cache):
        db = self.db
        user_id = row[9]
        if user_id is None:
            created_by = None
        elif user_id in cache:
            created_by = cache[user_id]
        else:
            created_by = cache[user_id] = {
                "id": user_id,
                "uuid": db.uuid_text(row[10]),
                "distinct_id": row[11],
                "first_name": row[12],
                "last_name": row[13],
                "email": row[14],
                "is_email_verified": db.boolean(row[15]),
                "hedgehog_config": fragment(row[16]),
                "role_at_organization": row[17],
            }
        return {
            "id": db.uuid_text(row[0]),
            "name": row[1],
            "description": row[2],
            "enabled": db.boolean(row[3]),
            "prompt": row[4],
            "conditions": fragment(row[5]),
            "created_at": db.datetime(row[6]),
            "updated_at": db.datetime(row[7]),
            "created_by": created_by,
            "deleted": db.boolean(row[8]),
        }


def release_json(db, row, start: int):
    """The nested release of columns row[start:start + 7], or None."""
    if row[start] is None:
        return None
    return {
        "id": db.uuid_text(row[start]),
        "hash_id": row[start + 1],
        "team_id": row[start + 2],
        "created_at": db.datetime(row[start + 3]),
        "metadata": fragment(row[start + 4]),
        "version": row[start + 5],
        "project": row[start + 6],
    }


class SymbolSets(ListEndpoint):
    scope = "error_tracking"
    table, alias = "symbol_sets", "s"
    order_fields = {
        "created_at": ("s.created_at", False),
        "ref": ("s.ref", False),
        "last_used": ("s.last_used", True),
    }
    tie_break = "s.pk"
    STATUSES = {
        "valid": "(s.failure_reason IS NULL AND s.content_hash IS NOT NULL)",
        "uploaded": "(s.failure_reason IS NULL AND s.content_hash IS NOT NULL)",
        "invalid": "(s.failure_reason IS NOT NULL OR s.content_hash IS NULL)",
        "failed": "s.failure_reason IS NOT NULL",
        "pending": "(s.failure_reason IS NULL AND s.content_hash IS NULL)",
    }

    def where(self, state):
        conditions, params = [], []
        status = state.get("status", "all")
        if status != "all":
            if status not in self.STATUSES:
                raise HTTPError("400 Bad Request", "invalid_choice", "Not a valid status.")
            conditions.append(self.STATUSES[status])
        term = state.get("search", "").strip()
        if term:
            long_words, short_words = search_words(term)
            # Per word: the sets whose ref matches UNION ALL the sets of matching releases (an OR scans).
            for word in long_words + short_words:
                pattern = like_pattern(word)
                if self.db.indexes_words and len(word) >= MIN_INDEXED_SEARCH_LENGTH:
                    by_ref, ref_param = self.db.fts_rows("symbol_sets", [word])
                else:
                    by_ref, ref_param = f"SELECT pk FROM symbol_sets WHERE {self.db.like('ref')}", pattern
                like = self.db.like
                releases = f"SELECT id FROM releases WHERE {like('version')} OR {like('project_name')}"
                by_release = f"SELECT pk FROM symbol_sets WHERE release_id IN ({releases})"
                conditions.append(f"s.pk IN ({by_ref} UNION ALL {by_release})")
                params += [ref_param, pattern, pattern]
        return conditions, params

    def select(self):
        return (
            "s.id, s.ref, s.project_id, s.created_at, s.last_used, s.storage_ptr, s.content_hash, "
            "s.failure_reason, s.size_bytes, r.id, r.hash_id, r.project_id, r.created_at, "
            "r.metadata" + self.db.json + ", r.version, r.project_name",
            "LEFT JOIN releases r ON r.id = s.release_id",
        )

    def row(self, row, cache):
        db = self.db
        storage_ptr, content_hash, failure_reason = row[5], row[6], row[7]
        has_file = content_hash is not None and storage_ptr is not None
        if failure_reason is not None:
            status = "failed"
        elif content_hash is not None:
            status = "uploaded"
        else:
            status = "pending"
        return {
            "id": db.uuid_text(row[0]),
            "ref": row[1],
            "team_id": row[2],
            "created_at": db.datetime(row[3]),
            "last_used": db.datetime(row[4]),
            # serializers.public_storage_ptr: a uuid5 of the set's id and its object key.
            "storage_ptr": f"symbolsets/{uuid.uuid5(db.uuid_object(row[0]), storage_ptr)}"
            if has_file
            else None,
            "content_hash": content_hash,
            "failure_reason": failure_reason,
            "release": release_json(db, row, 9),
            "has_uploaded_file": has_file,
            "status": status,
            "size_bytes": row[8],
        }


class Releases(ListEndpoint):
    scope = "error_tracking"
    table, alias = "releases", "r"
    order_fields = {"created_at": ("r.created_at", False), "version": ("r.version", False)}
    tie_break = "r.id"

    def where(self, state):
        return [], []

    def select(self):
        columns = "r.id, r.hash_id, r.project_id, r.created_at, r.metadata" + self.db.json
        return columns + ", r.version, r.project_name", ""

    def row(self, row, cache):
        return release_json(self.db, row, 0)


class BareList:
    """The WSGI callable."""

    def __init__(self, url: str, pg_options: str = ""):
        """pg_options: more PostgreSQL connection options (the tests' search_path)."""
        if url.startswith("sqlite:///"):
            self.db = SQLite(url[len("sqlite:///") :])
        elif url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            self.db = PostgreSQL(url.replace("postgresql+psycopg://", "postgresql://"), pg_options)
        else:
            raise RuntimeError(f"BARE_DATABASE_URL must be sqlite:///... or postgresql://..., not {url!r}")
        self.endpoints = {
            "evaluations": Evaluations(self.db),
            "error_tracking/symbol_sets": SymbolSets(self.db),
            "error_tracking/releases": Releases(self.db),
        }
        self.local = threading.local()
        p = self.db.param
        self.key_sql = (
            f"SELECT k.user_id, k.scopes{self.db.json}, k.scoped_teams{self.db.json}, u.is_active "
            f"FROM personal_api_keys k JOIN users u ON u.id = k.user_id WHERE k.secure_value = {p}"
        )
        self.member_sql = (
            "SELECT 1 FROM projects p JOIN memberships m ON m.organization_id = p.organization_id "
            f"WHERE p.id = {p} AND m.user_id = {p}"
        )

    def connection(self):
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = self.db.connect()
        return connection

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None

    def __call__(self, environ, start_response):
        try:
            status, body = "200 OK", self.handle(environ)
        except HTTPError as error:
            status, body = (
                error.status,
                {"type": "validation_error", "code": error.code, "detail": error.detail},
            )
        data = orjson.dumps(body, option=orjson.OPT_UTC_Z)
        start_response(status, [*JSON_HEADERS, ("Content-Length", str(len(data)))])
        return [data]

    def handle(self, environ) -> dict:
        path = environ.get("PATH_INFO", "")
        parts = path.strip("/").split("/", 3)
        endpoint = self.endpoints.get(parts[3]) if len(parts) == 4 and parts[0] == "api" else None
        if endpoint is None or parts[1] not in ("environments", "projects") or not parts[2].isdigit():
            raise HTTPError("404 Not Found", "not_found", "Not found.")
        if environ.get("REQUEST_METHOD") != "GET":
            raise HTTPError("405 Method Not Allowed", "method_not_allowed", "Only GET.")
        project_id = int(parts[2])
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        raw_key = self.raw_key(environ, pairs)
        connection = self.connection()
        key = connection.execute(
            self.key_sql, ["sha256$" + hashlib.sha256(raw_key.encode()).hexdigest()]
        ).fetchone()
        if key is None or not key[3]:
            raise HTTPError("401 Unauthorized", "authentication_failed", "Personal API key is invalid.")
        user_id, scopes, teams = key[0], orjson.loads(key[1]), orjson.loads(key[2]) if key[2] else None
        if connection.execute(self.member_sql, [project_id, user_id]).fetchone() is None:
            raise HTTPError("404 Not Found", "not_found", "Project not found.")
        if teams and project_id not in teams:
            raise HTTPError("403 Forbidden", "permission_denied", "API key does not have access.")
        scope = endpoint.scope
        if not ({"*", f"{scope}:read", f"{scope}:write"} & set(scopes)):
            raise HTTPError(
                "403 Forbidden", "permission_denied", f"API key missing required scope '{scope}:read'"
            )
        everything = query_state(pairs)
        state = {name: value for name, value in everything.items() if value.strip()}
        page = endpoint.page(connection, project_id, state)
        host = f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}"
        base_url = host + quote(environ.get("SCRIPT_NAME", "") + path)
        count, limit, offset = page["count"], page["limit"], page["offset"]
        following = offset + limit if offset + limit < count else None
        preceding = None if offset <= 0 else max(offset - limit, 0)
        return {
            "count": count,
            "next": page_url(base_url, everything, following, limit),
            "previous": page_url(base_url, everything, preceding, limit),
            "results": page["results"],
        }

    @staticmethod
    def raw_key(environ, pairs) -> str:
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        for name, value in reversed(pairs):
            if name == "personal_api_key" and value:
                return value
        raise HTTPError(
            "401 Unauthorized", "not_authenticated", "Authentication credentials were not provided."
        )


def page_url(base_url: str, args: dict[str, str], offset: int | None, limit: int) -> str | None:
    """serializers._page_url: every parameter once (last value), limit set, offset set or dropped."""
    if offset is None:
        return None
    args = {**args, "limit": str(limit)}
    if offset:
        args["offset"] = str(offset)
    else:
        args.pop("offset", None)
    return f"{base_url}?{urlencode(args)}"


def from_environment() -> BareList:
    """gunicorn's factory: `gunicorn 'bare_list:from_environment()'`."""
    return BareList(os.environ["BARE_DATABASE_URL"])
