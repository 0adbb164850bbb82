"""Deployment modes and hostile visitors, against a running app on 127.0.0.1: only uploaded files are ingested
(and no message tells whether another path exists), replacing needs a choice, public mode needs a login for
the full app while the widget and POST /api/ask stay anonymous and rate-limited per client and globally,
X-Forwarded-For only from a trusted proxy, and no event makes the server call a visitor's URL."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from assistant.deploy import (
    ConfigError,
    DeployConfig,
    RateLimits,
    UploadRejectedError,
    check_upload_paths,
    client_address,
    password_matches,
    sweep_temp,
)
from tests.fake_openai import FakeOpenAI
from tests.reliability_kit import SAMPLE, FastEmbedder, index_digest, sample_text

# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "peer, xff, trusted, want",
    [
        ("127.0.0.1", "6.6.6.6", [], "127.0.0.1"),  # no proxy configured: a header is not believed
        ("203.0.113.9", "6.6.6.6", ["127.0.0.1"], "203.0.113.9"),  # not from the proxy
        ("127.0.0.1", "6.6.6.6, 198.51.100.7", ["127.0.0.1"], "198.51.100.7"),  # spoofed first hop ignored
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", ["10.0.0.0/24"], "198.51.100.7"),  # a chain of trusted proxies
        ("127.0.0.1", "not-an-ip", ["127.0.0.1"], "127.0.0.1"),
        ("127.0.0.1", "", ["127.0.0.1"], "127.0.0.1"),
    ],
)
def test_client_address(peer: str, xff: str, trusted: list[str], want: str) -> None:
    assert client_address(peer, {"X-Forwarded-For": xff} if xff else {}, trusted) == want


def test_rate_limits_per_client_and_global() -> None:
    lim = RateLimits("2/minute", "3/minute")
    assert lim.check("api", "a") == 0 and lim.check("api", "a") == 0
    assert lim.check("api", "a") > 0, "a third request from one client within the minute"
    assert lim.check("api", "b") == 0
    assert lim.check("api", "c") > 0, "the global budget (3) is spent"
    assert lim.check("widget", "a") == 0, "scopes have their own budgets"
    assert "at most 2 per minute" in lim.message(30, "en") and "每个访客" in lim.message(30, "zh")


def test_public_mode_needs_logins_and_validates_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="public mode needs at least one login"):
        DeployConfig.from_env({"FISCALQA_PUBLIC": "1"})
    users = tmp_path / "users"
    users.write_text("# logins\nann:sha256:" + hashlib.sha256(b"pw").hexdigest() + "\nbob:secret\n", encoding="utf-8")
    cfg = DeployConfig.from_env({"FISCALQA_PUBLIC": "1", "FISCALQA_USERS_FILE": str(users)})
    check = cfg.auth()
    assert check is not None and check("ann", "pw") and check("bob", "secret") and not check("ann", "secret")
    assert not cfg.upload_enabled and not cfg.llm_settings_enabled
    assert DeployConfig.from_env({"FISCALQA_PUBLIC": "1", "FISCALQA_AUTH": "a:b", "FISCALQA_ALLOW_UPLOAD": "1"}).upload_enabled
    assert DeployConfig.from_env({}).upload_enabled and DeployConfig.from_env({}).auth() is None
    with pytest.raises(ConfigError, match="not an IP address"):
        DeployConfig.from_env({"FISCALQA_TRUSTED_PROXY": "proxy.example"})
    with pytest.raises(ConfigError, match="rate limit"):
        DeployConfig.from_env({"FISCALQA_RATE_GLOBAL": "lots"})
    assert not password_matches("", "sha256:")


def test_upload_paths_must_be_uploads(tmp_path: Path) -> None:
    root = tmp_path / "gradio"
    (root / "abc").mkdir(parents=True)
    good = root / "abc" / "report.txt"
    shutil.copy(SAMPLE, good)
    assert check_upload_paths([str(good)], [root]) == [good.resolve()]
    outside = tmp_path / "secret.pdf"
    outside.write_bytes(b"%PDF-1.7")
    link = root / "abc" / "link.pdf"
    link.symlink_to(outside)
    messages = set()
    for p in (str(outside), "/etc/passwd", str(root / "abc" / "missing.pdf"), str(link), str(root / ".." / "secret.pdf")):
        with pytest.raises(UploadRejectedError) as ei:
            check_upload_paths([p], [root])
        messages.add(str(ei.value))
    assert messages == {"only files uploaded here can be ingested; upload the report again"}, "one message: no path oracle"
    big = root / "abc" / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * 2_000_000)
    with pytest.raises(UploadRejectedError, match=r"big\.pdf: the file is 2 MB; the limit per upload is 1 MB"):
        check_upload_paths([str(big)], [root], max_mb=1)
    exe = root / "abc" / "tool.sh"
    exe.write_text("echo")
    with pytest.raises(UploadRejectedError, match="only PDF or text"):
        check_upload_paths([str(exe)], [root])


def test_sweep_removes_old_source_images_and_exports(tmp_path: Path) -> None:
    import os
    import time

    old = tmp_path / "fiscalqa-src-abc"
    old.mkdir()
    (old / "source.png").write_bytes(b"png")
    new = tmp_path / "fiscalqa-src-new"
    new.mkdir()
    exp = tmp_path / "fiscalqa-export" / "sess"
    exp.mkdir(parents=True)
    t = time.time() - 7200
    os.utime(old, (t, t))
    os.utime(exp, (t, t))
    assert sweep_temp(1800, tmp=tmp_path) == 2
    assert not old.exists() and not exp.exists() and new.exists()


# --------------------------------------------------------------------------- against a running app


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from assistant.ingest import ingest_paths

    d = tmp_path_factory.mktemp("deploy") / "index"
    assert ingest_paths([SAMPLE], d, show_progress=False, embedder=FastEmbedder()).ok
    return d


def _call(client: httpx.Client, api: str, data: list) -> tuple[str, object]:  # type: ignore[type-arg]
    """One gradio event over plain HTTP: (event type, data)."""
    import json

    r = client.post(f"/gradio_api/call/{api}", json={"data": data})
    if r.status_code != 200:
        return f"http {r.status_code}", r.text
    eid = r.json()["event_id"]
    kind, payload = "", None
    with client.stream("GET", f"/gradio_api/call/{api}/{eid}") as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                raw = line.split(":", 1)[1].strip()
                payload = json.loads(raw) if raw and raw != "null" else None
                return kind, payload
    return kind, payload


@pytest.fixture(scope="module")
def private(index_dir: Path):  # type: ignore[no-untyped-def]
    import app

    cfg = DeployConfig(per_client="3/minute", global_rate="100/minute")
    srv = app.start_server(index_dir, deploy=cfg)
    try:
        yield srv.url
    finally:
        srv.close()


def _ingest_data(path: str, *, replace: bool) -> list:
    """The upload event's inputs: files, identity fields (empty), language, the Replace box, the six report lists."""
    return [[{"path": path, "meta": {"_type": "gradio.FileData"}}], "", None, "", "zh", replace, "", "", "", None, None, None]


def test_upload_event_refuses_paths_that_were_not_uploaded(private: str, index_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "00_yunnan_qujing_touzicujinju_2023_juesuan_copy.txt"
    shutil.copy(SAMPLE, secret)  # a report on the server's disk that nobody uploaded
    before = index_digest(index_dir)
    replies = set()
    with httpx.Client(base_url=private, timeout=60) as c:
        for p in (str(secret), "/etc/passwd", "/nonexistent/x.pdf", str(tmp_path)):
            kind, data = _call(c, "do_ingest", _ingest_data(p, replace=False))
            text = data[0] if kind == "complete" and isinstance(data, list) else str(data)
            assert "✓" not in text and str(tmp_path) not in text and "/etc" not in text and "nonexistent" not in text, text
            replies.add(text)
    assert len(replies) == 1, f"the replies tell paths apart: {replies}"
    assert index_digest(index_dir) == before


def test_real_upload_ingests_and_replacing_needs_the_box_ticked(private: str, index_dir: Path, tmp_path: Path) -> None:
    v2 = tmp_path / "00_sample_v2_2023_juesuan.txt"
    v2.write_text(sample_text().replace("1834.93", "1834.94", 1), encoding="utf-8")
    before = index_digest(index_dir)
    with httpx.Client(base_url=private, timeout=120) as c:

        def upload_and_ingest(replace: bool) -> str:
            r = c.post("/gradio_api/upload", files=[("files", (v2.name, v2.read_bytes()))])
            assert r.status_code == 200
            path = r.json()[0]
            kind, data = _call(c, "do_ingest", _ingest_data(path, replace=replace))
            assert kind == "complete" and isinstance(data, list)
            assert not Path(path).exists(), "the upload is removed after ingest"
            return str(data[0])

        status = upload_and_ingest(False)
        assert "would replace 00_yunnan_qujing_touzicujinju_2023_juesuan" in status and "Replace reports" in status
        assert index_digest(index_dir) == before, "an upload never replaces a report without the box ticked"
        status = upload_and_ingest(True)
        assert status.startswith("✓") and "00_yunnan" not in status


def test_api_ask_is_rate_limited_and_ignores_forwarded_headers_from_untrusted_peers(private: str) -> None:
    with httpx.Client(base_url=private, timeout=60) as c:
        codes = [
            c.post("/api/ask", json={"question": "2023年公务接待费是多少？"}, headers={"X-Forwarded-For": f"7.7.7.{i}"}).status_code
            for i in range(4)
        ]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429, codes
        r = c.post("/api/ask", json={"question": 123})
        assert r.status_code == 400 and "question as text" in r.json()["error"]


@pytest.fixture(scope="module")
def public(index_dir: Path):  # type: ignore[no-untyped-def]
    import app

    cfg = DeployConfig(
        public=True, users=[("ann", "pw")], per_client="2/minute", global_rate="5/minute", trusted_proxies=["127.0.0.1"]
    )
    srv = app.start_server(index_dir, deploy=cfg)
    try:
        yield srv.url
    finally:
        srv.close()


def test_public_mode_login_and_anonymous_widget_and_api(public: str, index_dir: Path) -> None:
    with httpx.Client(base_url=public, timeout=60) as c:
        assert c.post("/gradio_api/call/ask", json={"data": ["2023年公务接待费是多少？", ""]}).status_code == 401
        assert c.get("/config").status_code in (401, 403, 404) or "login" in c.get("/").text.lower()
        r = c.post("/api/ask", json={"question": "2023年公务接待费是多少？"}, headers={"X-Forwarded-For": "198.51.100.1"})
        assert r.status_code == 200 and r.json()["value"] == 50.0
        # behind the trusted proxy each visitor has its own budget; the global budget caps them all
        codes = [
            c.post("/api/ask", json={"question": "三公经费是多少？"}, headers={"X-Forwarded-For": f"198.51.100.{k}"}).status_code
            for k in (1, 1, 2, 2, 3, 4)
        ]
        assert codes[:2] == [200, 429] and codes[2:4] == [200, 200] and 429 in codes[4:], codes
        kind, data = _call(c, "do_ingest", _ingest_data(str(SAMPLE), replace=True))
        assert kind != "complete" or "✓" not in str(data)


def _point_the_server_at(c: httpx.Client, url: str, session: str) -> None:
    """Send ``url`` to every event taking the LLM settings' fields, then ask in the same session."""
    deps = c.get("/config").json()["dependencies"]
    for i, d in enumerate(deps):
        if len(d.get("inputs", [])) == 6:
            body = {"data": [url, "fake", "k", 5, None, "zh"], "fn_index": i, "session_hash": session, "trigger_id": None}
            c.post("/gradio_api/queue/join" if d.get("queue") else "/gradio_api/run/predict", json=body)
    respond = next(i for i, d in enumerate(deps) if d.get("api_name") == "respond")
    q = ["2023年公务接待费是多少？", [], [], "", "", "", "", "zh", None]
    c.post("/gradio_api/queue/join", json={"data": q, "fn_index": respond, "session_hash": session, "trigger_id": None})
    with c.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as s:
        for line in s.iter_lines():
            if "process_completed" in line:
                break


def test_the_llm_url_setting_calls_out_in_private_mode_only(private: str, public: str) -> None:
    """The probe works (in private mode the session's URL is used: the fake model is called) and, logged in
    to a public server, the same events make the server call nothing."""
    with FakeOpenAI() as fake, httpx.Client(base_url=private, timeout=60) as c:
        _point_the_server_at(c, fake.base_url, "ssrf-private")
        assert fake.requests, "control: private mode uses the session's LLM URL"
    with FakeOpenAI() as fake, httpx.Client(base_url=public, timeout=60) as c:
        assert c.post("/login", data={"username": "ann", "password": "pw"}).status_code in (200, 302, 303)
        _point_the_server_at(c, fake.base_url, "ssrf-public")
        assert fake.requests == [], "public mode never calls a visitor's URL"


def test_links_in_report_text_are_not_live() -> None:
    from assistant.models import Answer, Citation
    from assistant.present import answer_markdown

    evil = "详见[官网](https://evil.example/login) 或 www.evil.example，![x](javascript:alert(1))"
    a = Answer(
        question="q",
        route="text",
        answer="报告写道：" + evil,
        citations=[Citation(report="r", department="某局", section="一、说明", text=evil, chunk_id="r:c1")],
    )
    body, cites = answer_markdown(a, None, "zh")
    for md in (body, cites):
        assert "](" not in md and "https://" not in md and "javascript:" not in md and "www.evil" not in md
        assert "官网" in md and "evil.example" in md, "the text itself is still shown"
