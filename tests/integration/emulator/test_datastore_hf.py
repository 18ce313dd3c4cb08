"""Real huggingface_hub uploads (regular and LFS), listing and downloads against the running emulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.emulator.records import jsonl, tool_record

from .conftest import Emulator
from .seed import hf_api

pytestmark = pytest.mark.integration


def test_upload_list_download_small_and_lfs_files(emu: Emulator, tmp_path: Path) -> None:
    from huggingface_hub import hf_hub_download

    api = hf_api(emu)
    assert emu.call("POST", "/v1/datastore/namespaces", data={"namespace": "hf"}, expect=201)
    emu.call("POST", "/v1/datastore/namespaces", data={"namespace": "hf"}, expect=409)
    url = api.create_repo("hf/data", repo_type="dataset")
    assert url.repo_id == "hf/data" and url.repo_type == "dataset"
    assert api.create_repo("hf/data", repo_type="dataset", exist_ok=True).repo_id == "hf/data"
    small = jsonl([tool_record(i) for i in range(3)])
    big = os.urandom(50_000)  # above the suite's 4 KiB LFS threshold
    (tmp_path / "big.bin").write_bytes(big)
    api.upload_file(path_or_fileobj=small, path_in_repo="eval_data.jsonl", repo_id="hf/data", repo_type="dataset")
    api.upload_file(
        path_or_fileobj=str(tmp_path / "big.bin"),
        path_in_repo="training/big.bin",
        repo_id="hf/data",
        repo_type="dataset",
    )
    requests = emu.stats()["requests"]
    assert requests["hf.lfs.batch"] == 1 and requests["hf.lfs.upload"] == 1 and requests["hf.commit"] == 2
    assert sorted(api.list_repo_files("hf/data", repo_type="dataset")) == ["eval_data.jsonl", "training/big.bin"]
    info = api.dataset_info("hf/data")
    assert {s.rfilename for s in info.siblings or []} == {"eval_data.jsonl", "training/big.bin"}
    for name, content in (("eval_data.jsonl", small), ("training/big.bin", big)):
        path = hf_hub_download(
            "hf/data",
            name,
            repo_type="dataset",
            endpoint=f"{emu.url}/v1/hf",
            token="nothing",
            cache_dir=tmp_path / "cache",
        )
        assert Path(path).read_bytes() == content
    # the uploaded eval records now drive the NIM answers
    assert emu.stats()["requests"]["hf.resolve"] == 2
    emu.call("DELETE", "/v1/hf/api/repos/delete", json={"name": "data", "organization": "hf", "type": "dataset"})
    emu.call("GET", "/v1/hf/api/datasets/hf/data/revision/main", expect=404)


def test_xet_uploads_are_refused_with_a_clear_message(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", False)
    api = hf_api(emu)
    api.create_repo("hf/xet", repo_type="dataset")
    (tmp_path / "big.bin").write_bytes(os.urandom(10_000))
    # hf_xet asks for a write token first; the Data Store answers 501 (its body says to set HF_HUB_DISABLE_XET=1)
    with pytest.raises(Exception, match=r"501 Not Implemented.*xet-write-token"):
        api.upload_file(
            path_or_fileobj=str(tmp_path / "big.bin"), path_in_repo="big.bin", repo_id="hf/xet", repo_type="dataset"
        )
    r = emu.http.get("/v1/hf/api/datasets/hf/xet/xet-write-token/main")
    assert r.status_code == 501 and "HF_HUB_DISABLE_XET=1" in r.json()["error"]
