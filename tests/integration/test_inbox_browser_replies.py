"""Answering from the inbox in a real browser (Debian's chromium through Selenium), two people at
once, against the X stand-in.

`tweet-triage triage serve` and the outbox worker (`triage outbox run`) run as a user starts
them, with the X app pointed at an in-process stand-in. Alice (the admin) connects the team's
account through X's approve page and adds a saved reply; Bob (an agent) logs in too. Alice
claims a tweet and starts a reply; Bob, on the same conversation, sees that Alice is replying
within 5 s; Alice sends the saved reply and sees it sent (posted once at the stand-in); the
author's answer puts the conversation back at the top of both queues, marked.

With TT_SCREENSHOTS=<folder> (docs/images for the docs) each page is saved there as a PNG.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.integration.test_inbox_browser import CHROMEDRIVER, CHROMIUM, _click, _ids, _wait
from tests.unit.live.conftest import PASSWORD, scored
from tests.unit.xapi.test_xapi_writes import APP, CORPUS, make_server
from tweet_triage.hosts.processes import free_port, port_answers
from tweet_triage.live.replies.x_text import weighted_length
from tweet_triage.live.store import TriageStore, utc_now
from tweet_triage.live.web.security import hash_password
from tweet_triage_local.xapi.oauth import OAuthClient
from tweet_triage_local.xapi.server import XStandInServer

pytestmark = pytest.mark.integration

CLIENT_ID = "tweet-triage-browser"
AUTHOR = {"author_id": "2244994945", "author_name": "Maria Lopez", "author_handle": "maria_l"}
FIRST, OTHER = CORPUS[0]["id"], CORPUS[1]["id"]


@dataclass
class Running:
    url: str
    store: TriageStore
    x: XStandInServer


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    state = tmp_path_factory.mktemp("replies-state")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    x = make_server(state / "xapi", OAuthClient(CLIENT_ID, redirect_uris=(f"{url}/x/callback",)))
    env = {
        **os.environ,
        "TT_STATE_DIR": str(state),
        "TT_IGNORE_DOTENV": "1",
        "TRIAGE_PORT": str(port),
        "TRIAGE_REFRESH_SECONDS": "0.5",
        "TRIAGE_OUTBOX_POLL_SECONDS": "0.2",
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "X_API_BASE_URL": x.url,
        "X_CLIENT_ID": CLIENT_ID,
        "X_REDIRECT_URI": f"{url}/x/callback",
        "X_TOKEN_KEY": Fernet.generate_key().decode(),
    }
    store = TriageStore(f"sqlite:///{state / 'triage' / 'triage.db'}")
    store.migrate()
    store.add_user("alice", hash_password(PASSWORD))  # the first account: the admin
    store.add_user("bob", hash_password(PASSWORD))
    inbox = _start(["triage", "serve"], env, state / "inbox.log")
    worker = _start(["triage", "outbox", "run"], env, state / "outbox.log")
    try:
        for _ in range(300):
            if port_answers(port) or inbox.poll() is not None:
                break
            time.sleep(0.1)
        assert inbox.poll() is None, (state / "inbox.log").read_text()
        yield Running(url, store, x)
    finally:
        for process in (worker, inbox):
            process.terminate()
            process.wait(timeout=30)
        x.stop()
        store.close()


def _driver() -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browsers() -> Iterator[tuple[object, object]]:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/bootstrap.sh)")
    alice, bob = _driver(), _driver()
    yield alice, bob
    alice.quit()  # type: ignore[attr-defined]
    bob.quit()  # type: ignore[attr-defined]


def _log_in(driver: object, url: str, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "username").send_keys(name)  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()  # type: ignore[attr-defined]
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "header nav"))


def _shot(driver: object, name: str) -> None:
    folder = os.environ.get("TT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))  # type: ignore[attr-defined]


def _text(driver: object, css: str) -> str:
    return driver.execute_script(  # type: ignore[attr-defined]
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css
    )


def _posts(x: XStandInServer) -> list[dict]:
    asked = urllib.request.Request(f"{x.url}/_standin/posts", headers=APP)
    with urllib.request.urlopen(asked, timeout=10) as answer:
        body = json.load(answer)
    return body["posts"]


def test_two_people_answer_from_the_inbox(running: Running, browsers) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    alice, bob = browsers
    running.store.upsert_scored(
        [
            replace(scored(FIRST, 0.93, text="the launch stream is broken for me"), **AUTHOR),
            replace(scored(OTHER, 0.71, text="where can I find the replay?"), **AUTHOR),
        ]
    )

    # Alice, the admin: the banner says replies are held until the account is connected
    _log_in(alice, running.url, "alice")
    alice.get(running.url + "/admin/x")
    assert "not connected" in alice.find_element(By.ID, "x-banner").text
    _shot(alice, "inbox-x-account.png")
    _click(alice, "#x-connect")  # to the stand-in's approve page, as to X's
    _wait(alice, ec.presence_of_element_located((By.ID, "approve")))
    assert "@WebbTriageDemo" in alice.page_source
    _click(alice, "#approve")
    _wait(alice, lambda d: "connected as @WebbTriageDemo" in _text(d, "#x-connection"))
    assert not alice.find_elements(By.ID, "x-banner")

    # a saved reply for the team
    alice.get(running.url + "/admin/saved-replies")
    form = alice.find_element(By.ID, "saved-new")
    form.find_element(By.NAME, "shortcode").send_keys("/thanks")
    form.find_element(By.NAME, "title").send_keys("Thanks, a fix is coming")
    form.find_element(By.NAME, "text").send_keys("Thanks {author}, a fix is on its way. {agent}")
    form.find_element(By.CSS_SELECTOR, "button").click()
    _wait(alice, ec.presence_of_element_located((By.CSS_SELECTOR, "input[value='/thanks']")))
    _shot(alice, "inbox-saved-replies.png")

    # Bob, an agent, sees the queue with its reply boxes
    _log_in(bob, running.url, "bob")
    assert _ids(bob) == [FIRST, OTHER]
    _click(bob, f"#tweet-{OTHER} .reply-box summary")
    box = bob.find_element(By.CSS_SELECTOR, f"#tweet-{OTHER} textarea[name=text]")
    typed = "Here is the replay ★ https://www.nasa.gov/webb/launch-replay-full-length"
    box.send_keys(typed)
    counted = f"{weighted_length(typed).weighted} / 280"  # the page counts as the server does
    _wait(bob, lambda d: _text(d, f"#tweet-{OTHER} .weighted") == counted)
    _shot(bob, "inbox-queue-reply.png")
    box.clear()

    # Alice claims the first tweet and starts a reply with the saved one
    alice.get(f"{running.url}/conversations/{FIRST}")
    _click(alice, "#claim")
    _wait(alice, lambda d: "alice" in _text(d, "#conversation-assignee"))
    draft = alice.find_element(By.CSS_SELECTOR, ".reply-here textarea[name=text]")
    draft.send_keys("/thanks ")
    expanded = "Thanks Maria Lopez, a fix is on its way. alice"
    _wait(
        alice,
        lambda d: (
            d.execute_script("return document.querySelector('.reply-here textarea').value")
            == expanded
        ),
    )

    # Bob opens the same conversation: within 5 s he sees that Alice is replying
    bob.get(f"{running.url}/conversations/{FIRST}")
    opened = time.monotonic()
    _wait(bob, lambda d: "alice is replying" in _text(d, "#presence"), seconds=5)
    assert time.monotonic() - opened <= 5
    assert "assigned to alice" in _text(bob, ".ownership")
    _shot(bob, "inbox-conversation.png")

    # Alice sends it: queued, then sent by the worker, posted once at X
    _click(alice, ".reply-here button.send")
    _wait(
        alice,
        lambda d: (
            d.execute_script(
                "return document.querySelector('.reply-here .reply-status').dataset.status"
            )
            == "sent"
        ),
        seconds=20,
    )
    assert "view on X" in _text(alice, ".reply-here .reply-status")
    posted = [p for p in _posts(running.x) if p.get("in_reply_to_tweet_id") == FIRST]
    assert [p["text"] for p in posted] == [expanded]
    (reply,) = running.store.replies_for(FIRST)
    assert (reply.status, reply.author, reply.saved_reply_id is not None) == ("sent", "alice", True)
    alice.refresh()  # the conversation now holds the reply, delivered, waiting on the author
    assert _text(alice, f"#reply-{reply.id} .delivery").strip().startswith("sent")
    assert _text(alice, "#conversation-status").strip() == "replied"
    _shot(alice, "inbox-conversation-sent.png")

    # Bob answers the other tweet, which X refuses: the reason shows, the draft stays for an
    # edit, and the edited reply goes out once X allows it
    running.x.standin.posts.set_faults({"restricted": [OTHER]})
    bob.get(running.url + "/")
    _click(bob, f"#tweet-{OTHER} .reply-box summary")
    box = bob.find_element(By.CSS_SELECTOR, f"#tweet-{OTHER} textarea[name=text]")
    box.send_keys("The replay is on the NASA site.")
    _click(bob, f"#tweet-{OTHER} button.send")
    status = f"#tweet-{OTHER} .reply-status"
    _wait(
        bob,
        lambda d: (
            d.execute_script("return document.querySelector(arguments[0]).dataset.status", status)
            == "failed"
        ),
        seconds=20,
    )
    assert "failed" in _text(bob, status) and "reply" in _text(bob, status).lower()
    assert box.get_attribute("value") == "The replay is on the NASA site."
    running.x.standin.posts.set_faults({"restricted": []})
    box.send_keys(" Sorry for the wait!")
    _click(bob, f"#tweet-{OTHER} button.send")  # now "Edit and resend"
    _wait(
        bob,
        lambda d: (
            d.execute_script("return document.querySelector(arguments[0]).dataset.status", status)
            == "sent"
        ),
        seconds=20,
    )
    others = [p["text"] for p in _posts(running.x) if p.get("in_reply_to_tweet_id") == OTHER]
    assert others == ["The replay is on the NASA site. Sorry for the wait!"]

    # the author answers the team: back at the top of both queues, marked
    answer_id = str(int(FIRST) + 1)
    answered = utc_now()
    running.store.upsert_scored(
        [
            replace(
                scored(answer_id, 0.04, text="@WebbTriageDemo thanks, it works now"),
                received_at=answered,
                scored_at=answered,
                conversation_id=FIRST,
                in_reply_to_tweet_id=reply.x_post_id,
                **AUTHOR,
            )
        ]
    )
    for driver in (alice, bob):
        driver.get(running.url + "/")
        assert _ids(driver)[0] == answer_id
        assert "author replied" in _text(driver, f"#tweet-{answer_id} .who")
    _shot(bob, "inbox-queue-author-replied.png")
