"""NeMo Data Store: namespaces and the Hugging Face Hub compatible API under ``/v1/hf`` (datasets)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from flywheel.emulator.datastore import Repo
from flywheel.emulator.routing import EmulatorRoute, platform_of
from flywheel.emulator.util import OmitNone, http_error, now_iso

router = APIRouter(route_class=EmulatorRoute)
HF = "/v1/hf"
REPO = HF + "/api/datasets/{namespace}/{name}"
_platform = platform_of
M = TypeVar("M", bound=BaseModel)


async def _lfs_body(request: Request, model: type[M]) -> M:
    """The JSON body of an LFS call, whatever content type the client sends (Git LFS uses its own)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise http_error(400, f"invalid LFS request: {problems}") from exc


def _endpoint(request: Request) -> str:
    return str(request.base_url).rstrip("/") + HF


class RepoRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    organization: str | None = None
    type: str = "model"
    private: bool | None = None


class StoreNamespace(OmitNone):
    namespace: str
    created_at: str | None = None


@router.post("/v1/datastore/namespaces", name="datastore.namespaces.create", status_code=201)
async def create_ds_namespace(request: Request, namespace: Annotated[str, Form()]) -> StoreNamespace:
    p = _platform(request)
    if namespace in p.store.namespaces:
        raise http_error(409, f"namespace {namespace} already exists")
    p.store.namespaces.add(namespace)
    return StoreNamespace(namespace=namespace, created_at=now_iso())


@router.get("/v1/datastore/namespaces", name="datastore.namespaces.list")
async def list_ds_namespaces(request: Request) -> list[StoreNamespace]:
    return [StoreNamespace(namespace=n) for n in sorted(_platform(request).store.namespaces)]


def _split_repo(body: RepoRef) -> tuple[str, str]:
    if body.type != "dataset":
        raise http_error(400, f"only dataset repos are supported, got type {body.type!r}")
    org, name = body.organization, body.name
    if not org and "/" in name:
        org, name = name.split("/", 1)
    if not org:
        raise http_error(400, "a dataset repo needs an organization (namespace)")
    return org, name


@router.post(HF + "/api/repos/create", name="hf.repos.create")
async def create_repo(body: RepoRef, request: Request) -> JSONResponse:
    ns, name = _split_repo(body)
    url = f"{_endpoint(request)}/datasets/{ns}/{name}"
    if _platform(request).store.create_repo(ns, name) is None:
        # like the Hub: 409 still names the repo url (huggingface_hub's exist_ok=True reads it)
        return JSONResponse(
            {"error": f"You already created this dataset repo: {ns}/{name}", "url": url}, status_code=409
        )
    return JSONResponse({"url": url, "name": f"{ns}/{name}"})


class Message(BaseModel):
    message: str


@router.delete(HF + "/api/repos/delete", name="hf.repos.delete")
async def delete_repo(body: RepoRef, request: Request) -> Message:
    ns, name = _split_repo(body)
    if _platform(request).store.repos.pop(f"{ns}/{name}", None) is None:
        raise http_error(404, f"Repository not found: {ns}/{name}")
    return Message(message=f"Deleted dataset repo {ns}/{name}")


def _repo(request: Request, namespace: str, name: str) -> Repo:
    repo = _platform(request).store.repo(namespace, name)
    if repo is None:
        raise http_error(404, f"Repository not found: {namespace}/{name}")
    return repo


def _hub_time(iso: str) -> str:
    """The Hub's timestamp format (``...sssZ``), which huggingface_hub parses strictly."""
    return iso.replace("+00:00", "Z")


class Sibling(BaseModel):
    rfilename: str
    size: int


class RepoInfo(BaseModel):
    """A dataset repo as the Hub describes it (``huggingface_hub.DatasetInfo``)."""

    model_config = ConfigDict(serialize_by_alias=True)

    id: str
    platform_id: str = Field(serialization_alias="_id")
    author: str
    sha: str
    private: bool = False
    disabled: bool = False
    gated: bool = False
    downloads: int = 0
    likes: int = 0
    tags: list[str] = Field(default_factory=list)
    created_at: str = Field(serialization_alias="createdAt")
    last_modified: str = Field(serialization_alias="lastModified")
    xet_enabled: bool = Field(default=False, serialization_alias="xetEnabled")
    siblings: list[Sibling]

    @classmethod
    def of(cls, repo: Repo) -> RepoInfo:
        return cls(
            id=repo.repo_id,
            platform_id=repo.repo_id,
            author=repo.namespace,
            sha=repo.sha,
            created_at=_hub_time(repo.created_at),
            last_modified=_hub_time(now_iso()),
            siblings=[Sibling(rfilename=p, size=len(c)) for p, c in sorted(repo.files.items())],
        )


@router.get(REPO, name="hf.repo_info")
async def repo_info(namespace: str, name: str, request: Request) -> RepoInfo:
    return RepoInfo.of(_repo(request, namespace, name))


@router.get(REPO + "/revision/{revision:path}", name="hf.revision")
async def revision_info(namespace: str, name: str, revision: str, request: Request) -> RepoInfo:
    return RepoInfo.of(_repo(request, namespace, name))


class PreuploadFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: str
    size: int
    sample: str | None = None


class Preupload(BaseModel):
    model_config = ConfigDict(extra="allow")
    files: list[PreuploadFile]


class UploadMode(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    path: str
    upload_mode: str = Field(serialization_alias="uploadMode")
    should_ignore: bool = Field(default=False, serialization_alias="shouldIgnore")


class UploadModes(BaseModel):
    files: list[UploadMode]


@router.post(REPO + "/preupload/{revision:path}", name="hf.preupload")
async def preupload(namespace: str, name: str, revision: str, body: Preupload, request: Request) -> UploadModes:
    _repo(request, namespace, name)
    threshold = _platform(request).settings.lfs_threshold_bytes
    modes = [UploadMode(path=f.path, upload_mode="lfs" if f.size >= threshold else "regular") for f in body.files]
    return UploadModes(files=modes)


@router.get(REPO + "/xet-write-token/{revision:path}", name="hf.xet_token")
@router.get(REPO + "/xet-read-token/{revision:path}", name="hf.xet_read_token")
async def xet_token(namespace: str, name: str, request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "error": "The NeMo Data Store does not support Xet storage; "
            "set HF_HUB_DISABLE_XET=1 in the uploading process"
        },
        status_code=501,
    )


class CommitInfo(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    commit_url: str = Field(serialization_alias="commitUrl")
    commit_oid: str = Field(serialization_alias="commitOid")
    pull_request_url: str | None = Field(default=None, serialization_alias="pullRequestUrl")
    success: bool = True


@router.post(REPO + "/commit/{revision:path}", name="hf.commit")
async def commit(namespace: str, name: str, revision: str, request: Request) -> CommitInfo:
    p = _platform(request)
    repo = _repo(request, namespace, name)
    try:
        lines: list[JsonValue] = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        sha = p.commit(repo, lines)
    except ValueError as exc:
        raise http_error(400, f"invalid commit payload: {exc}") from exc
    return CommitInfo(commit_url=f"{_endpoint(request)}/datasets/{repo.repo_id}/commit/{sha}", commit_oid=sha)


class LfsObjectIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    oid: str | None = None
    size: int | None = None


class LfsBatchIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    operation: str | None = None
    objects: list[LfsObjectIn] | None = None


class Href(BaseModel):
    href: str


class LfsActions(BaseModel):
    upload: Href
    verify: Href


class LfsObject(OmitNone):
    oid: str | None
    size: int | None
    authenticated: bool = True
    actions: LfsActions | None = None


class LfsBatch(BaseModel):
    transfer: str = "basic"
    objects: list[LfsObject]
    hash_algo: str = "sha256"


@router.post(HF + "/datasets/{namespace}/{name}.git/info/lfs/objects/batch", name="hf.lfs.batch")
async def lfs_batch(namespace: str, name: str, request: Request) -> JSONResponse:
    _repo(request, namespace, name)
    body = await _lfs_body(request, LfsBatchIn)
    if body.operation != "upload":
        raise http_error(400, "only the LFS upload operation is supported")
    base = str(request.base_url).rstrip("/") + HF
    objects = []
    store = _platform(request).store
    for obj in body.objects or []:
        actions = None
        if obj.oid not in store.lfs_objects:
            actions = LfsActions(
                upload=Href(href=f"{base}/lfs/objects/{obj.oid}"), verify=Href(href=f"{base}/lfs/verify")
            )
        objects.append(LfsObject(oid=obj.oid, size=obj.size, actions=actions))
    answer = LfsBatch(objects=objects).model_dump(mode="json")
    return JSONResponse(answer, media_type="application/vnd.git-lfs+json")


@router.put(HF + "/lfs/objects/{oid}", name="hf.lfs.upload")
async def lfs_upload(oid: str, request: Request) -> Response:
    content = await request.body()
    if hashlib.sha256(content).hexdigest() != oid:
        raise http_error(400, f"uploaded content does not match sha256 {oid}")
    _platform(request).store.lfs_objects[oid] = content
    return Response(status_code=200)


class LfsVerifyIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    oid: str
    size: int | None = None


class LfsVerified(BaseModel):
    oid: str
    size: int


@router.post(HF + "/lfs/verify", name="hf.lfs.verify")
async def lfs_verify(request: Request) -> LfsVerified:
    body = await _lfs_body(request, LfsVerifyIn)
    content = _platform(request).store.lfs_objects.get(body.oid)
    if content is None or len(content) != body.size:
        raise http_error(404, f"LFS object {body.oid} not found")
    return LfsVerified(oid=body.oid, size=len(content))


def _file_response(request: Request, namespace: str, name: str, path: str, head: bool) -> Response:
    repo = _repo(request, namespace, name)
    content = repo.files.get(path)
    if content is None:
        return JSONResponse(
            {"detail": f"Entry not found: {path}"}, status_code=404, headers={"X-Error-Code": "EntryNotFound"}
        )
    lfs = path in repo.lfs_paths
    etag = hashlib.sha256(content).hexdigest() if lfs else _blob(content)
    headers = {
        "X-Repo-Commit": repo.sha,
        "ETag": f'"{etag}"',
        "Content-Length": str(len(content)),
        "Accept-Ranges": "bytes",
    }
    if lfs:
        headers["X-Linked-Etag"] = f'"{etag}"'
        headers["X-Linked-Size"] = str(len(content))
    return Response(b"" if head else content, headers=headers, media_type="application/octet-stream")


def _blob(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@router.get(HF + "/datasets/{namespace}/{name}/resolve/{revision}/{path:path}", name="hf.resolve")
async def resolve(namespace: str, name: str, revision: str, path: str, request: Request) -> Response:
    return _file_response(request, namespace, name, path, head=False)


@router.head(HF + "/datasets/{namespace}/{name}/resolve/{revision}/{path:path}", name="hf.resolve_head")
async def resolve_head(namespace: str, name: str, revision: str, path: str, request: Request) -> Response:
    return _file_response(request, namespace, name, path, head=True)


class LfsInfo(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    oid: str
    size: int
    pointer_size: int = Field(default=134, serialization_alias="pointerSize")


class TreeEntry(OmitNone):
    type: str
    oid: str
    size: int
    path: str
    lfs: LfsInfo | None = None


@router.get(REPO + "/tree/{revision}", name="hf.tree")
@router.get(REPO + "/tree/{revision}/{path:path}", name="hf.tree_path")
async def tree(namespace: str, name: str, revision: str, request: Request, path: str = "") -> list[TreeEntry]:
    repo = _repo(request, namespace, name)
    recursive = request.query_params.get("recursive", "false").lower() in ("1", "true")
    prefix = path.strip("/") + "/" if path.strip("/") else ""
    entries: dict[str, TreeEntry] = {}
    for p, content in sorted(repo.files.items()):
        if not p.startswith(prefix):
            continue
        rest = p[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            folder = prefix + "/".join(rest[:depth])
            if recursive or depth == 1:
                entries.setdefault(folder, TreeEntry(type="directory", oid=_blob(folder.encode()), size=0, path=folder))
        if recursive or len(rest) == 1:
            lfs = None
            if p in repo.lfs_paths:
                lfs = LfsInfo(oid=hashlib.sha256(content).hexdigest(), size=len(content))
            entries[p] = TreeEntry(type="file", oid=_blob(content), size=len(content), path=p, lfs=lfs)
    if prefix and not entries:
        raise http_error(404, f"Entry not found: {path}")
    return list(entries.values())
