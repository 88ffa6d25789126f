"""The inbox's security rules: who may see and change what."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import PASSWORD, log_in, login_csrf, scored
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.security import LoginThrottle, hash_password, verify_password


@pytest.mark.parametrize("path", ["/", "/tweets", "/dashboard", "/fragments/queue"])
def test_pages_send_anonymous_visitors_to_the_login(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/score"),
        ("get", "/api/queue"),
        ("post", "/api/decisions"),
        ("get", "/metrics"),
    ],
)
def test_api_without_a_valid_token_is_401(client: TestClient, method: str, path: str) -> None:
    assert getattr(client, method)(path).status_code == 401
    bad = getattr(client, method)(path, headers={"Authorization": "Bearer tt_not-a-token"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Bearer"


def test_api_ignores_the_session_cookie(client: TestClient) -> None:
    log_in(client)
    assert client.get("/api/queue").status_code == 401  # cookies never authorise /api/*


def test_no_api_docs_are_exposed(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path, follow_redirects=False).status_code in (303, 404)


def test_login_sets_a_hardened_session_cookie(client: TestClient) -> None:
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "tt_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http in tests; TRIAGE_SECURE_COOKIES or https sets it
    assert client.get("/").status_code == 200


def test_cookie_is_secure_over_https(store: TriageStore, app) -> None:
    with TestClient(app, base_url="https://inbox.example") as client:
        response = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": login_csrf(client)},
            follow_redirects=False,
        )
    assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong password!"), ("nobody", PASSWORD)])
def test_wrong_login_is_401_without_saying_which_part(
    client: TestClient, name: str, password: str
) -> None:
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": login_csrf(client)},
    )
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    assert "tt_session" not in client.cookies


def test_login_form_without_its_csrf_token_is_403(client: TestClient) -> None:
    login_csrf(client)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 403


def test_failed_logins_are_rate_limited_per_address_and_user(client: TestClient) -> None:
    def attempt(name: str, password: str) -> int:
        data = {"username": name, "password": password, "csrf_token": login_csrf(client)}
        return client.post("/login", data=data, follow_redirects=False).status_code

    assert [attempt("alice", "wrong password!") for _ in range(3)] == [401, 401, 401]
    assert attempt("alice", PASSWORD) == 429  # even the right password waits now
    assert attempt("bob", "wrong password!") == 401  # another user name is counted apart


def test_throttle_window_moves_on() -> None:
    now = [0.0]
    throttle = LoginThrottle(2, 60, clock=lambda: now[0])
    key = ("127.0.0.1", "alice")
    assert [throttle.reserve(key), throttle.reserve(key)] == [0, 0]
    assert throttle.reserve(key) == pytest.approx(60)
    now[0] = 61
    assert throttle.reserve(key) == 0
    throttle.succeeded(key)  # a successful login gives the allowance back
    assert [throttle.reserve(key), throttle.reserve(key)] == [0, 0]


def test_forms_without_the_csrf_token_are_refused(client: TestClient, store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9)])
    csrf = log_in(client)
    form = {"tweet_id": "1", "decision": "handled"}
    assert client.post("/decisions", data=form).status_code == 403
    assert client.post("/decisions", data={**form, "csrf_token": "forged"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    assert store.decisions() == []
    ok = client.post("/decisions", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    assert [(d.tweet_id, d.user_name) for d in store.decisions()] == [("1", "alice")]


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = log_in(client)
    client.post("/logout", data={"csrf_token": csrf})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = client.post(
            "/login",
            data={
                "username": "alice",
                "password": PASSWORD,
                "csrf_token": login_csrf(client),
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_pages_forbid_foreign_scripts_and_framing(client: TestClient) -> None:
    response = client.get("/login")
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert f'<script nonce="{nonce}">' in response.text
    assert "http" not in re.sub(r'href="https://x\.com[^"]*"', "", response.text.split("<main>")[0])


def test_passwords_are_argon2_hashed() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, "wrong password!")
    assert not verify_password(None, PASSWORD)


def test_simultaneous_wrong_logins_stop_at_the_limit_and_few_checks_run_at_once(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt is taken before the slow password check, and checks take turns."""
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    running, most = [0], [0]
    lock = threading.Lock()

    def slow_mismatch(self, hashed, password) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        raise VerifyMismatchError

    monkeypatch.setattr(PasswordHasher, "verify", slow_mismatch)
    token = login_csrf(client)
    form = {"username": "alice", "password": "wrong password!", "csrf_token": token}
    with ThreadPoolExecutor(10) as pool:
        codes = sorted(pool.map(lambda _: client.post("/login", data=form).status_code, range(10)))
    assert codes == [401] * 3 + [429] * 7  # the limit is 3 in these tests
    assert most[0] <= 2


def test_a_browser_that_logged_in_before_is_not_locked_out_by_others(
    app, client: TestClient
) -> None:
    log_in(client)
    client.post("/logout", data={"csrf_token": log_in(client)})
    with TestClient(app) as attacker:  # same address, no device cookie
        data = {"username": "alice", "password": "guess", "csrf_token": login_csrf(attacker)}
        codes = [attacker.post("/login", data=data).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
    owner = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert owner.status_code == 303  # the owner's browser keeps its own allowance


def test_a_device_cookie_counts_only_for_its_own_user(
    client: TestClient, store: TriageStore, password_hash: str
) -> None:
    store.add_user("bob", password_hash)
    log_in(client)  # a device cookie for alice
    data = {"username": "bob", "password": "guess", "csrf_token": login_csrf(client)}
    codes = [client.post("/login", data=data).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_a_login_csrf_pair_the_server_did_not_issue_is_refused(client: TestClient) -> None:
    client.cookies.set("tt_login_csrf", "anything")
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": "anything"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "log in again" in response.text and "tt_session" not in client.cookies


def test_two_login_tabs_both_work(client: TestClient) -> None:
    first_tab = login_csrf(client)
    login_csrf(client)  # a second tab opens the login page
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": first_tab},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_the_throttle_table_stays_bounded_when_every_key_is_live() -> None:
    throttle = LoginThrottle(5, 300, clock=lambda: 0.0, max_keys=2)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        throttle.reserve((address, "alice"))
    assert len(throttle._attempts) == 2
