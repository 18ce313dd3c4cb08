"""Log sources: a stream of raw records for a workload (newest first), behind one small interface.

- :class:`FileSource`: JSONL, gzip JSONL or Parquet. Newest-first order is produced with a compact index of
  (timestamp, offset) pairs, so memory stays bounded however large the file is.
- :class:`ElasticsearchSource`: the official ``elasticsearch`` client, a ``filter`` query on keyword fields,
  ``search_after`` paging sorted by (timestamp desc, record_id asc); works against Elasticsearch 8/9 and
  OpenSearch (which refuses the client's ``compatible-with`` media types: rewritten to plain JSON).

Lines that are not JSON objects are yielded as :class:`Rejected` so they are counted, not lost.
"""

from __future__ import annotations

import contextlib
import gzip
import re
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from flywheel.jsontypes import JsonObject
from flywheel.records import jsonio
from flywheel.records.validation import Rejected, missing, parse_line, wrong_type

RawRecord = JsonObject | Rejected


class LogSource(Protocol):
    def iter_records(
        self,
        workload_id: str,
        client_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[RawRecord]: ...


def _epoch(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def _matches(
    rec: Mapping[str, object], workload_id: str, client_id: str | None, lo: float | None, hi: float | None
) -> bool:
    if rec.get("workload_id") != workload_id or (client_id is not None and rec.get("client_id") != client_id):
        return False
    ts = rec.get("timestamp")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return lo is None and hi is None  # invalid timestamps are kept (and rejected by validation)
    return (lo is None or ts >= lo) and (hi is None or ts < hi)


def attribution_problem(rec: Mapping[str, object], client_id: str | None) -> str | None:
    """Why a line cannot be attributed to a workload (and, when filtering by client, to a client), or None."""
    wid = rec.get("workload_id")
    if wid is None:
        return missing("workload_id")
    if not isinstance(wid, str):
        return wrong_type("workload_id")
    if client_id is not None:
        cid = rec.get("client_id")
        if cid is None:
            return missing("client_id")
        if not isinstance(cid, str):
            return wrong_type("client_id")
    return None


# ----------------------------------------------------------------------------------------------- files
def _header_decoder() -> Any:
    """Pass 1 only needs four top-level fields: msgspec (in the lock with Airflow) decodes just those, still
    checking the whole line is valid JSON, several times faster than ``json.loads``. None when unavailable."""
    try:
        import msgspec
    except ImportError:
        return None

    class Header(msgspec.Struct):
        workload_id: Any = None
        client_id: Any = None
        timestamp: Any = None
        rejected: Any = msgspec.field(name="__rejected__", default=None)
        detail: Any = None

    return msgspec.json.Decoder(Header).decode


_DECODE_HEADER = _header_decoder()


def _header(line: bytes) -> JsonObject | Rejected:
    """The fields pass 1 filters on, or the line's rejection (exactly as :func:`parse_line` reports it)."""
    if _DECODE_HEADER is not None:
        try:
            h = _DECODE_HEADER(line)
            return {
                "workload_id": h.workload_id,
                "client_id": h.client_id,
                "timestamp": h.timestamp,
                "__rejected__": h.rejected,
                "detail": h.detail,
            }
        except Exception:  # anything msgspec refuses (bad JSON, not an object, NaN, ...) takes the json path
            pass
    return parse_line(line)


class FileSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"log file not found: {self.path}")
        self.kind = "parquet" if self.path.suffix == ".parquet" else "jsonl"

    def _open(self) -> Any:
        return gzip.open(self.path, "rb") if self.path.suffix == ".gz" else self.path.open("rb")

    def iter_records(
        self,
        workload_id: str,
        client_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[RawRecord]:
        if self.kind == "parquet":
            yield from self._parquet(workload_id, client_id, since, until, limit)
            return
        import numpy as np

        lo, hi = _epoch(since), _epoch(until)
        stamps, offsets = array("d"), array("q")  # 16 bytes per matching record, whatever its size
        with self._open() as f:  # pass 1: index matching lines; rejected lines are yielded as found
            offset = 0
            for line in f:
                here, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                rec = _header(line)
                if isinstance(rec, Rejected):
                    yield rec
                    continue
                if rec.get("__rejected__") is not None:  # a snapshot's record of a line rejected upstream
                    yield Rejected(str(rec["__rejected__"]), str(rec.get("detail") or ""))
                    continue
                unattributable = attribution_problem(rec, client_id)
                if unattributable:  # it may be this workload's: counted, never skipped silently
                    yield Rejected(unattributable)
                    continue
                if _matches(rec, workload_id, client_id, lo, hi):
                    ts = rec.get("timestamp")
                    stamps.append(float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else -1.0)
                    offsets.append(here)
        order = np.lexsort((np.frombuffer(offsets, dtype=np.int64), -np.frombuffer(stamps, dtype=np.float64)))
        emitted = 0
        with self._open() as f:  # pass 2: newest first (random access; gzip seeks are slower but correct)
            for i in order:
                if limit is not None and emitted >= limit:
                    return
                f.seek(offsets[int(i)])
                rec = parse_line(f.readline())
                emitted += 1
                yield rec

    def _parquet(
        self, workload_id: str, client_id: str | None, since: datetime | None, until: datetime | None, limit: int | None
    ) -> Iterator[RawRecord]:
        """Filter and order on the columnar table; rows become dicts only in small newest-first batches."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        flt = [("workload_id", "=", workload_id)] + ([("client_id", "=", client_id)] if client_id else [])
        table = pq.read_table(self.path, filters=flt)
        stamps = np.nan_to_num(table["timestamp"].to_numpy(zero_copy_only=False).astype(np.float64), nan=-1.0)
        order = np.lexsort((np.arange(len(stamps)), -stamps))
        lo, hi = _epoch(since), _epoch(until)
        n = 0
        for start in range(0, len(order), 1000):
            for row in table.take(pa.array(order[start : start + 1000], type=pa.int64())).to_pylist():
                for key in ("request", "response"):
                    if isinstance(row.get(key), str):  # JSON columns are allowed in Parquet
                        with contextlib.suppress(ValueError):
                            row[key] = jsonio.loads(row[key])
                if not _matches(row, workload_id, client_id, lo, hi):
                    continue
                if limit is not None and n >= limit:
                    return
                n += 1
                yield row


# ----------------------------------------------------------------------------------------------- search
_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+)(?:\s*;\s*compatible-with=\d+)?")


def plain_json_media_types(client: Any) -> Any:
    """OpenSearch answers 406 to ``application/vnd.elasticsearch+json; compatible-with=N``: send plain types."""
    transport = client.transport
    original = transport.perform_request

    def perform_request(*args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers")
        if headers:
            kwargs["headers"] = {
                k: (
                    _COMPAT.sub(r"application/\1", v)
                    if k.lower() in ("accept", "content-type") and isinstance(v, str)
                    else v
                )
                for k, v in dict(headers).items()
            }
        return original(*args, **kwargs)

    transport.perform_request = perform_request
    return client


_SCHEMES = {"elasticsearch": "http", "es": "http", "opensearch": "http", "http": "http", "https": "https"}
_BOOL_OPTIONS = ("verify_certs", "ssl_show_warn")


def es_node(url: str) -> dict[str, Any]:
    """The node of ``url`` (``http(s)://host:9200[/prefix]``; ``elasticsearch://``, ``es://`` and
    ``opensearch://`` with ``?scheme=https``). A URL never carries credentials: those are refused with a line
    that does not repeat them (pass ``basic_auth`` or ``api_key`` to :func:`es_client`)."""
    from flywheel.scrub import has_credentials

    if has_credentials(url):  # not even a scrubbed copy: an unquoted password can defeat URL parsing
        raise ValueError(
            "the Elasticsearch URL carries credentials (user:password@ or a key parameter): pass the user and "
            "password (or API key) separately, never inside the URL"
        )
    parts = urlsplit(url if "://" in url else f"http://{url}")
    query = dict(parse_qsl(parts.query))
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"Elasticsearch URL {url}: scheme must be one of {sorted(_SCHEMES)}")
    scheme = query.get("scheme") or _SCHEMES[parts.scheme]
    if scheme not in ("http", "https"):
        raise ValueError(f"Elasticsearch URL {url}: scheme must be http or https, not {scheme!r}")
    node: dict[str, Any] = {"scheme": scheme, "host": parts.hostname or "127.0.0.1", "port": parts.port or 9200}
    if parts.path.strip("/"):
        node["path_prefix"] = parts.path.rstrip("/")
    return node


def url_options(url: str) -> dict[str, Any]:
    """Client options from the URL's query (``request_timeout``, ``verify_certs``, ``ca_certs``...)."""
    query = dict(parse_qsl(urlsplit(url).query))
    query.pop("scheme", None)
    return client_options(query)


def client_options(raw: dict[str, Any]) -> dict[str, Any]:
    """Options of ``elasticsearch.Elasticsearch`` from strings (a URL query, a connection's extra)."""
    out: dict[str, Any] = {"request_timeout": float(raw.get("request_timeout") or 30)}
    for key in _BOOL_OPTIONS:
        if key in raw:
            value = raw[key]
            out[key] = value if isinstance(value, bool) else str(value).lower() not in ("false", "0", "no")
    for key in ("ca_certs", "client_cert", "client_key", "ssl_assert_fingerprint"):
        if raw.get(key):
            out[key] = str(raw[key])
    return out


def es_client(
    url: str,
    *,
    basic_auth: tuple[str, str] | None = None,
    api_key: str | tuple[str, str] | None = None,
    **options: Any,
) -> Any:
    """An ``elasticsearch.Elasticsearch`` client for ``url`` (no credentials inside: see :func:`es_node`),
    authenticated with ``basic_auth`` or ``api_key`` when given. Query parameters of the URL become client
    options; ``options`` win. The Airflow path builds its client from the connection instead
    (:func:`flywheel.airflow.connections.es_client_from_connection`)."""
    from elasticsearch import Elasticsearch

    kwargs = {**url_options(url), **options}
    if basic_auth is not None:
        kwargs["basic_auth"] = basic_auth
    if api_key:
        kwargs["api_key"] = api_key
    return plain_json_media_types(Elasticsearch([es_node(url)], **kwargs))


PIT_KEEP_ALIVE = "2m"


class ElasticsearchSource:
    def __init__(self, client: Any, index: str, page_size: int = 500) -> None:
        self.client, self.index, self.page_size = client, index, page_size

    def _query(
        self, workload_id: str, client_id: str | None, since: datetime | None, until: datetime | None
    ) -> dict[str, Any]:
        filters: list[dict[str, Any]] = [{"term": {"workload_id": workload_id}}]
        if client_id is not None:
            filters.append({"term": {"client_id": client_id}})
        window: dict[str, Any] = {}
        if since is not None:
            window["gte"] = int(since.timestamp())
        if until is not None:
            window["lt"] = int(until.timestamp())
        if window:
            filters.append({"range": {"timestamp": {**window, "format": "epoch_second"}}})
        return {"bool": {"filter": filters}}

    def _open_pit(self) -> tuple[str, str] | None:
        """A point in time: Elasticsearch's ``_pit`` API, else OpenSearch's ``_search/point_in_time``; None
        when the server has neither (then paging relies on the ``record_id`` tie-break alone)."""
        from elasticsearch import ApiError

        try:
            return "es", self.client.open_point_in_time(index=self.index, keep_alive=PIT_KEEP_ALIVE)["id"]
        except ApiError:
            pass
        try:
            resp = self.client.perform_request(
                "POST",
                f"/{self.index}/_search/point_in_time",
                params={"keep_alive": PIT_KEEP_ALIVE},
                headers={"accept": "application/json"},
            )
            return "opensearch", resp["pit_id"]
        except (ApiError, KeyError, TypeError):
            return None

    def _close_pit(self, pit: tuple[str, str]) -> None:
        from elasticsearch import ApiError, TransportError

        with contextlib.suppress(ApiError, TransportError):  # it expires by itself anyway
            if pit[0] == "es":
                self.client.close_point_in_time(id=pit[1])
            else:
                self.client.perform_request(
                    "DELETE",
                    "/_search/point_in_time",
                    body={"pit_id": [pit[1]]},
                    headers={"accept": "application/json", "content-type": "application/json"},
                )

    def iter_records(
        self,
        workload_id: str,
        client_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[RawRecord]:
        """Newest first, ``search_after`` paging. In a point in time the tie-break is ``_shard_doc`` (every
        document, even those written without ``record_id`` by other producers, is read exactly once)."""
        pit = self._open_pit()
        tie = (
            {"_shard_doc": "asc"}
            if pit
            else {"record_id": {"order": "asc", "missing": "_last", "unmapped_type": "keyword"}}
        )
        sort = [{"timestamp": {"order": "desc"}}, tie]
        after: list[Any] | None = None
        n = 0
        try:
            while True:
                size = self.page_size if limit is None else min(self.page_size, limit - n)
                if size <= 0:
                    return
                body: dict[str, Any] = {
                    "query": self._query(workload_id, client_id, since, until),
                    "sort": sort,
                    "size": size,
                    "track_total_hits": False,
                }
                if after is not None:
                    body["search_after"] = after
                if pit:
                    body["pit"] = {"id": pit[1], "keep_alive": PIT_KEEP_ALIVE}
                    resp = self.client.search(body=body)
                    pit = (pit[0], resp.get("pit_id") or pit[1])
                else:
                    resp = self.client.search(index=self.index, body=body)
                hits = resp["hits"]["hits"]
                if not hits:
                    return
                for hit in hits:
                    n += 1
                    yield hit["_source"]
                after = hits[-1]["sort"]
                if len(hits) < size:
                    return
        finally:
            if pit:
                self._close_pit(pit)


def open_log_source(cfg: Any, client: Any | None = None, base_dir: Path | None = None) -> LogSource:
    """The configured source (``flywheel.config.LogSourceConfig``); ``client``: a ready Elasticsearch client
    for ``kind: elasticsearch`` (built from the Airflow connection, or by :func:`es_client`)."""
    if cfg.kind == "file":
        path = Path(cfg.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return FileSource(path)
    if client is None:
        raise ValueError("log_source 'elasticsearch' needs a client (Airflow connection flywheel_es)")
    return ElasticsearchSource(client, cfg.index)


def export_snapshot(
    source: LogSource,
    path: Path,
    workload_id: str,
    client_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
) -> dict[str, Any]:
    """Stream the source into a JSONL snapshot (newest first) that ``build_datasets`` reads like a log file.

    ``limit`` counts unique valid records (as ``split.limit`` does), not raw ones: duplicates and invalid
    records are written too, and reading goes on past the limit until the timestamp changes, so a build
    from the snapshot equals a build from the whole source. Rejected lines are kept as
    ``{"__rejected__": reason, "detail": ...}`` so the build counts them again.
    """
    from flywheel.records.keys import dedup_digest
    from flywheel.records.validation import validate

    path.parent.mkdir(parents=True, exist_ok=True)
    read, written = 0, 0
    rejected: Counter[str] = Counter()
    unique: set[bytes] = set()
    boundary: Any = None
    with path.open("wb") as out:
        for rec in source.iter_records(workload_id, client_id, since, until, None):
            if isinstance(rec, Rejected):
                read += 1
                rejected[rec.reason] += 1
                out.write(jsonio.dumps_compact({"__rejected__": rec.reason, "detail": rec.detail}) + b"\n")
                continue
            if limit is not None:
                valid = validate(rec)
                if not isinstance(valid, Rejected):
                    if len(unique) >= limit and valid["timestamp"] != boundary:
                        break
                    unique.add(dedup_digest(valid))
                    boundary = valid["timestamp"]
            read += 1
            written += 1
            out.write(jsonio.dumps_compact(rec) + b"\n")
    return {"read": read, "written": written, "rejected": dict(rejected)}
