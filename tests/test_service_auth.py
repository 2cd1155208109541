"""Named tokens (issue 36): the token file and its errors, per-token limits on sessions and track runs (429/403
JSON), token names in the metrics, the docs behind the token, and the readiness check; on a real uvicorn server."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from servicehelpers import free_port, running_server, write_clip
from xmempp.errors import ConfigError
from xmempp.io.synthetic import MovingDiscs
from xmempp.service import Scheduler, ServiceSettings, create_app
from xmempp.service.auth import TokenBook, TokenSpec, read_token_file, token_book
from xmempp.service.rle import encode_rle

parser = pytest.importorskip("prometheus_client.parser")

TOKEN_FILE = """
[tokens]
farm = "farm-secret-0123"

[tokens.artist]
token = "artist-secret-4567"
max_sessions = 1
max_tracks = 1

[tokens.prometheus]
token = "prom-secret-89ab"
max_sessions = 0
max_tracks = 0
"""
ARTIST = {"Authorization": "Bearer artist-secret-4567"}
PROMETHEUS = {"Authorization": "Bearer prom-secret-89ab"}
FRAMES = 12


# ---------------------------------------------------------------------------------------------- the token file
def test_a_toml_and_a_json_token_file_give_the_same_tokens(tmp_path):
    toml = tmp_path / "tokens.toml"
    toml.write_text(TOKEN_FILE)
    as_json = tmp_path / "tokens.json"
    as_json.write_text(
        json.dumps(
            {
                "tokens": {
                    "farm": "farm-secret-0123",
                    "artist": {"token": "artist-secret-4567", "max_sessions": 1, "max_tracks": 1},
                    "prometheus": {"token": "prom-secret-89ab", "max_sessions": 0, "max_tracks": 0},
                }
            }
        )
    )
    expected = [
        TokenSpec("farm", "farm-secret-0123"),
        TokenSpec("artist", "artist-secret-4567", 1, 1),
        TokenSpec("prometheus", "prom-secret-89ab", 0, 0),
    ]
    assert read_token_file(toml) == expected
    assert read_token_file(as_json) == expected
    assert "secret" not in repr(expected[1])  # a traceback or log never shows a secret


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("bad.toml", '[tokens]\nfarm = "x"\nartist = \n', "line 3"),
        ("bad.json", '{"tokens": {\n "farm": "x",\n}}', "line 3"),
        ("t.toml", '[tokens.artist]\ntoken = "s3cret"\nmax_sessions = -1\n', "tokens.artist.max_sessions"),
        ("t.toml", '[tokens.artist]\ntoken = "s3cret"\nmax_tracks = "2"\n', "tokens.artist.max_tracks"),
        ("t.toml", '[tokens.artist]\ntoken = "s3cret"\nmax_session = 2\n', "tokens.artist.max_session is not"),
        ("t.toml", "[tokens.artist]\nmax_sessions = 2\n", "tokens.artist.token must be"),
        ("t.toml", '[tokens]\n"a b" = "s3cret"\n', "tokens.a b: a token name"),
        ("t.toml", '[tokens]\nartist = "two words"\n', "tokens.artist.token has white space"),
        ("t.toml", '[tokens]\na = "same"\nb = "same"\n', "tokens 'a' and 'b' have the same secret"),
        ("t.toml", '[token]\na = "x"\n', "no 'tokens' table"),
        ("t.toml", "[tokens]\n", "no token under 'tokens'"),
    ],
)
def test_token_file_errors_name_the_line_or_the_key(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        read_token_file(path)


def test_the_single_token_is_a_token_named_default_beside_the_file(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text(TOKEN_FILE)
    book = token_book("single", path)
    assert book.names == ["farm", "artist", "prometheus", "default"]
    assert book.identify("Bearer single").name == "default"
    path.write_text('[tokens]\ndefault = "other"\n')
    with pytest.raises(ConfigError, match="names a token 'default'"):
        token_book("single", path)
    with pytest.raises(ConfigError, match="must not be empty"):
        ServiceSettings(token="  ")
    with pytest.raises(ConfigError, match="protect_docs needs a token"):
        ServiceSettings(protect_docs=True)


def test_a_token_matches_whole_and_only_in_its_schemes():
    book = TokenBook([TokenSpec("a", "secret-a"), TokenSpec("b", "secret-b")])
    assert book.identify("Bearer secret-b").name == "b"
    assert book.identify("bearer   secret-a ").name == "a"
    for wrong in ("Bearer secret", "Bearer secret-ab", "Bearer ", "secret-a", "Token secret-a", ""):
        assert book.identify(wrong) is None, wrong
    basic = "Basic " + base64.b64encode(b"anyone:secret-a").decode()
    assert book.identify(basic) is None  # HTTP Basic only where asked for (the docs)
    assert book.identify(basic, basic=True).name == "a"
    assert book.identify("Basic !!!", basic=True) is None


# ---------------------------------------------------------------------------------------------- on a server
@pytest.fixture(scope="module")
def server(checkpoint_path, tmp_path_factory):
    """A server with the token file, `--token single` and --protect-docs; yields its URL."""
    root = tmp_path_factory.mktemp("auth")
    write_clip(root / "media" / "shot", FRAMES)
    tokens = root / "tokens.toml"
    tokens.write_text(TOKEN_FILE)
    engine = Scheduler.load(checkpoint_path, "cpu")
    settings = ServiceSettings(
        port=free_port(),
        token="single",
        token_file=tokens,
        protect_docs=True,
        media_roots=[root / "media"],
        state_dir=root / "state",
    )
    try:
        with running_server(create_app(settings, engine), settings.port) as url:
            yield url
    finally:
        engine.close()


def scrape(url: str) -> dict:
    reply = httpx.get(f"{url}/metrics", headers=PROMETHEUS)
    assert reply.status_code == 200, reply.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parser.text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def test_every_token_of_the_file_and_the_single_one_is_accepted_and_no_other(server):
    for secret in ("farm-secret-0123", "artist-secret-4567", "prom-secret-89ab", "single"):
        assert httpx.get(f"{server}/v1/info", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer farm-secret"}, {"Authorization": "Bearer wrong"}):
        reply = httpx.get(f"{server}/v1/sessions", headers=headers)
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
        assert "bearer token" in reply.json()["detail"]
    assert httpx.get(f"{server}/v1/health").status_code == 200
    ready = httpx.get(f"{server}/v1/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_a_token_at_its_session_limit_gets_429_and_a_token_without_sessions_403(server):
    with httpx.Client(base_url=server, headers=ARTIST, timeout=60) as client:
        first = client.post("/v1/sessions", json={"video": "shot"})
        assert first.status_code == 201, first.text
        second = client.post("/v1/sessions", json={"video": "shot"})
        assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
        assert "token 'artist' has 1 sessions open" in second.json()["detail"]
        assert "max_sessions 1" in second.json()["detail"]
        other = httpx.post(
            f"{server}/v1/sessions", json={"video": "shot"}, headers={"Authorization": "Bearer farm-secret-0123"}
        )
        assert other.status_code == 201  # another token's limit is its own
        httpx.delete(f"{server}/v1/sessions/{other.json()['id']}", headers=ARTIST)
        refused = httpx.post(f"{server}/v1/sessions", json={"video": "shot"}, headers=PROMETHEUS)
        assert refused.status_code == 403 and "may not open sessions" in refused.json()["detail"]
        assert httpx.post(f"{server}/v1/sessions", json={"video": "shot"}).status_code == 401
        samples = scrape(server)
        assert samples[("xmempp_token_sessions_open", (("token", "artist"),))] == 1
        assert samples[("xmempp_token_requests_total", (("code", "429"), ("token", "artist")))] == 1
        assert samples[("xmempp_token_requests_total", (("code", "403"), ("token", "prometheus")))] == 1
        assert samples[("xmempp_token_requests_total", (("code", "401"), ("token", "none")))] >= 1
        assert client.delete(f"/v1/sessions/{first.json()['id']}").status_code == 204
        again = client.post("/v1/sessions", json={"video": "shot"})  # a closed session frees its place
        assert again.status_code == 201, again.text
        assert scrape(server)[("xmempp_token_sessions_open", (("token", "artist"),))] == 1
        client.delete(f"/v1/sessions/{again.json()['id']}")


def test_a_token_at_its_track_limit_gets_429_until_its_run_ends(server):
    with httpx.Client(base_url=server, headers=ARTIST, timeout=60) as client:
        sid = client.post("/v1/sessions", json={"video": "shot", "config": {"size": -1}}).json()["id"]
        try:
            mask = encode_rle(MovingDiscs(FRAMES, objects=2).mask(0))
            assert client.put(f"/v1/sessions/{sid}/references/0", json=mask).status_code == 201
            rid = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0}).json()["id"]
            # 12 frames take far longer than a request
            busy = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0})
            assert busy.status_code == 429, busy.text
            assert "1 track runs queued or running" in busy.json()["detail"] and busy.headers["retry-after"]
            assert "max_tracks 1" in busy.json()["detail"]
            with client.stream("GET", f"/v1/sessions/{sid}/tracks/{rid}/stream") as stream:
                final = [json.loads(line) for line in stream.iter_lines()][-1]
            assert final["status"] == "done", final
            after = client.post(f"/v1/sessions/{sid}/tracks", json={"start": 0, "count": 2})
            assert after.status_code == 202, after.text
            assert scrape(server)[("xmempp_token_tracks_active", (("token", "artist"),))] <= 1
            refused = httpx.post(f"{server}/v1/sessions/{sid}/tracks", json={"start": 0}, headers=PROMETHEUS)
            assert refused.status_code == 403 and "may not start track runs" in refused.json()["detail"]
        finally:
            client.delete(f"/v1/sessions/{sid}")


def test_protected_docs_need_the_token_as_bearer_or_as_a_browsers_basic_password(server):
    for path in ("/docs", "/openapi.json", "/redoc"):
        reply = httpx.get(f"{server}{path}")
        assert reply.status_code == 401 and reply.headers["www-authenticate"].startswith("Basic")
        assert reply.json()["detail"].startswith("the docs need a token")
        assert httpx.get(f"{server}{path}", headers=ARTIST).status_code == 200
        basic = base64.b64encode(b"me:farm-secret-0123").decode()
        assert httpx.get(f"{server}{path}", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    document = httpx.get(f"{server}/openapi.json", headers=ARTIST).json()
    assert "/v1/sessions" in document["paths"] and "/docs" not in document["paths"]
    basic = base64.b64encode(b"me:artist-secret-4567").decode()
    assert httpx.get(f"{server}/v1/info", headers={"Authorization": f"Basic {basic}"}).status_code == 401


def test_docs_stay_open_without_the_flag(checkpoint_path, tmp_path):
    engine = Scheduler.load(checkpoint_path, "cpu")
    settings = ServiceSettings(port=free_port(), token="single", state_dir=tmp_path / "state")
    try:
        with running_server(create_app(settings, engine), settings.port) as url:
            assert httpx.get(f"{url}/docs").status_code == 200
            assert httpx.get(f"{url}/openapi.json").status_code == 200
            assert httpx.get(f"{url}/v1/info").status_code == 401
    finally:
        engine.close()


def test_a_restarted_server_counts_the_sessions_it_reloaded_against_the_tokens_that_opened_them(
    checkpoint_path, tmp_path
):
    """The token that opened a session is kept with it: after a restart on the same state folder, a token at its
    session limit is still at it (before, reloaded sessions belonged to no token and the limit started afresh)."""
    write_clip(tmp_path / "media" / "shot", FRAMES)
    tokens = tmp_path / "tokens.toml"
    tokens.write_text(TOKEN_FILE)
    engine = Scheduler.load(checkpoint_path, "cpu")

    def settings() -> ServiceSettings:
        return ServiceSettings(
            port=free_port(), token_file=tokens, media_roots=[tmp_path / "media"], state_dir=tmp_path / "state"
        )

    try:
        first = settings()
        with running_server(create_app(first, engine), first.port) as url:
            opened = httpx.post(f"{url}/v1/sessions", json={"video": "shot"}, headers=ARTIST, timeout=60)
            assert opened.status_code == 201, opened.text
        second = settings()
        with running_server(create_app(second, engine), second.port) as url:
            listed = httpx.get(f"{url}/v1/sessions", headers=ARTIST).json()
            assert [s["id"] for s in listed] == [opened.json()["id"]]
            again = httpx.post(f"{url}/v1/sessions", json={"video": "shot"}, headers=ARTIST, timeout=60)
            assert again.status_code == 429, again.text
            assert "token 'artist' has 1 sessions open" in again.json()["detail"]
            httpx.delete(f"{url}/v1/sessions/{opened.json()['id']}", headers=ARTIST)
            assert httpx.post(f"{url}/v1/sessions", json={"video": "shot"}, headers=ARTIST).status_code == 201
    finally:
        engine.close()
