"""An export job (``POST jobs``) written to object storage: only under a URL the
server's allowed roots name, reached with the server's environment (the request holds
no storage options); against the test suite's moto S3 server."""

from __future__ import annotations

import json

import pytest

from ..s3server import client
from .conftest import Lab
from .test_jobs import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config(lab: Lab, s3_bucket: str) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
        "VoxcatExtension": {
            "index": str(lab.index),
            "allowed_roots": [f"s3://{s3_bucket}/exports/"],
        },
    }


async def test_an_export_job_writes_to_an_allowed_bucket_prefix_only(
    api, lab, s3_endpoint, s3_bucket, monkeypatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # the server's environment
    body = {"kind": "export", "search": {"q": "sandstone"}, "mode": "zarr"}
    r = await api("jobs", method="POST", body={**body, "dest": f"s3://{s3_bucket}/elsewhere"})
    assert r.status == 403 and "allowed export URL" in r.json["error"]
    dotted = f"s3://{s3_bucket}/exports/../elsewhere"
    r = await api("jobs", method="POST", body={**body, "dest": dotted})
    assert r.status == 400
    link = {**body, "mode": "link", "dest": f"s3://{s3_bucket}/exports/l"}
    assert (await api("jobs", method="POST", body=link)).status == 400

    url = f"s3://{s3_bucket}/exports/rocks"
    r = await api("jobs", method="POST", body={**body, "dest": url})
    assert r.status == 202, r.body
    done = await wait_for(api, r.json["id"], timeout=120)
    assert done["status"] == "done", done["error"]
    assert done["result"]["dest"] == url and done["result"]["datasets"] == 3
    s3 = client(s3_endpoint)
    params = s3.get_object(Bucket=s3_bucket, Key="exports/rocks/.voxcat-export/params.json")
    assert json.loads(params["Body"].read())["complete"] is True
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="exports/rocks/")["Contents"]
    assert {"exports/rocks/catalog.yaml", "exports/rocks/bagit.txt"} <= {o["Key"] for o in listed}
