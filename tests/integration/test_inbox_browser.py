"""The inbox in a real browser: Debian's chromium driven by Selenium through chromium-driver.

`tweet-triage triage serve` runs as a user would start it; tweets reach its store the way the
streaming scorer writes them (`upsert_scored`). The browser logs in, sees the flagged tweets,
sees a new one arrive without reloading, marks one handled (it leaves the queue and the
decision is stored with who and when), and is refused without a session or a CSRF token.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.live.conftest import PASSWORD, scored
from tweet_triage.hosts.processes import free_port, port_answers
from tweet_triage.live.store import TriageStore, utc_now
from tweet_triage.live.web.security import hash_password

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@dataclass
class RunningInbox:
    url: str
    store: TriageStore


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningInbox]:
    state = tmp_path_factory.mktemp("inbox-state")
    port = free_port()
    env = {
        **os.environ,
        "TT_STATE_DIR": str(state),
        "TT_IGNORE_DOTENV": "1",
        "TRIAGE_PORT": str(port),
        "TRIAGE_REFRESH_SECONDS": "0.5",
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
    }
    store = TriageStore(f"sqlite:///{state / 'triage' / 'triage.db'}")
    store.migrate()
    store.add_user("alice", hash_password(PASSWORD))
    log = (state / "inbox.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", "triage", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            if port_answers(port) or server.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert server.poll() is None, (state / "inbox.log").read_text()
        yield RunningInbox(f"http://127.0.0.1:{port}", store)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip(
            "needs Debian's chromium and chromium-driver (scripts/bootstrap.sh installs them "
            "as root; otherwise: sudo apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespace sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    # The driver is the Debian one at a fixed path: Selenium Manager never downloads one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver: object, condition: object, seconds: float = 10) -> object:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _ids(driver: object) -> list[str]:
    """The listed tweets' ids, read in one step (the live refresh swaps the list any time)."""
    return driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('article.tweet'), e => e.dataset.id)"
    )


def _selected(driver: object) -> str | None:
    return driver.execute_script(  # type: ignore[attr-defined]
        "const e = document.querySelector('article.selected'); return e && e.dataset.id"
    )


def _click(driver: object, css: str) -> None:
    """Click, finding the element again if a refresh replaced it in between."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    for _ in range(10):
        try:
            driver.find_element(By.CSS_SELECTOR, css).click()  # type: ignore[attr-defined]
            return
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"{css} kept being replaced")


def test_triage_in_a_browser(inbox: RunningInbox, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver = browser
    inbox.store.upsert_scored(
        [
            scored(101, 0.93, text="the livestream is broken for me"),
            scored(102, 0.71, text="where can I find the launch replay?"),
            scored(103, 0.05, text="what a beautiful launch"),
        ]
    )

    # anonymous: sent to the login page
    driver.get(inbox.url + "/")
    assert "/login" in driver.current_url

    driver.find_element(By.NAME, "username").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    _wait(driver, ec.presence_of_element_located((By.ID, "tweet-101")))
    assert _ids(driver) == ["101", "102"]  # flagged only, most likely first

    # a tweet scored after the page loaded appears without a reload
    marker = driver.find_element(By.ID, "queue-size")
    inbox.store.upsert_scored([scored(104, 0.99, text="my order page shows an error")])
    _wait(driver, ec.presence_of_element_located((By.ID, "tweet-104")))
    assert marker.text == "3"  # the same element, updated in place: the page did not reload

    # keyboard triage: the selection survives the refresh; j/k move it, h marks handled
    assert _ids(driver) == ["104", "101", "102"] and _selected(driver) == "101"
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    assert _selected(driver) == "102"
    body.send_keys("k")
    assert _selected(driver) == "101"
    body.send_keys("h")
    _wait(driver, ec.invisibility_of_element_located((By.ID, "tweet-101")))
    (decision,) = inbox.store.decisions()
    assert (decision.tweet_id, decision.user_name, decision.decision) == ("101", "alice", "handled")
    assert (utc_now() - decision.decided_at).total_seconds() < 60

    # a click works too, and a reload confirms both left the queue
    _click(driver, "#tweet-102 button.not_for_us")
    _wait(driver, ec.invisibility_of_element_located((By.ID, "tweet-102")))
    driver.refresh()
    assert _ids(driver) == ["104"]

    # a form without its CSRF token is refused and changes nothing
    driver.execute_script(
        "const form = document.querySelector('#tweet-104 form.decide');"
        "form.querySelector('[name=csrf_token]').remove();"
        "const d = document.createElement('input'); d.type = 'hidden'; d.name = 'decision';"
        "d.value = 'handled'; form.appendChild(d); HTMLFormElement.prototype.submit.call(form);"
    )
    _wait(driver, lambda d: "CSRF" in d.page_source)
    assert len(inbox.store.decisions()) == 2

    # the all-tweets view: an unflagged tweet marked as a miss
    driver.get(inbox.url + "/tweets?window=all")
    _click(driver, "#tweet-103 button.needed_us")
    _wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "#tweet-103 .decision")))
    assert inbox.store.decisions()[-1].decision == "needed_us"

    driver.get(inbox.url + "/dashboard?window=all")
    assert driver.find_element(By.ID, "stat-queue").text == "1"
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")

    # without the session cookie, nothing but /healthz answers
    driver.delete_all_cookies()
    driver.get(inbox.url + "/dashboard")
    assert "/login" in driver.current_url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(inbox.url + "/api/queue", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(inbox.url + "/healthz", timeout=10) as health:
        assert json.load(health)["status"] == "ok"


def _log_in(driver: object) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.NAME, "username").send_keys("alice")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()  # type: ignore[attr-defined]


def test_an_expired_session_and_the_error_pages_in_a_browser(inbox: RunningInbox, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    from tweet_triage.live.web.security import token_digest

    driver = browser
    inbox.store.upsert_scored([scored(201, 0.97, text="the app crashes on start")])
    driver.delete_all_cookies()
    driver.get(inbox.url + "/")
    _log_in(driver)
    _wait(driver, ec.presence_of_element_located((By.ID, "tweet-201")))
    decided_before = len(inbox.store.decisions())

    # the session ends on the server (as it does when it expires), then a decision is sent
    inbox.store.delete_session(token_digest(driver.get_cookie("tt_session")["value"]))
    _click(driver, "#tweet-201 button.handled")
    _wait(driver, ec.presence_of_element_located((By.ID, "login-error")))
    assert "was not saved" in driver.find_element(By.ID, "login-error").text
    _log_in(driver)  # back to the queue, the tweet still waiting for its decision
    _wait(driver, ec.presence_of_element_located((By.ID, "tweet-201")))
    assert len(inbox.store.decisions()) == decided_before

    # error pages in the inbox's style, with a way back
    driver.get(inbox.url + "/no-such-page")
    assert driver.find_element(By.CSS_SELECTOR, "#problem h1").text == "Not Found"
    assert driver.find_element(By.CSS_SELECTOR, "header.top nav")  # the inbox's own page


def test_chromedriver_is_the_debian_one() -> None:
    if shutil.which("chromedriver") is None:
        pytest.skip("chromium-driver is not installed")
    assert Path(shutil.which("chromedriver")).resolve() == Path(CHROMEDRIVER).resolve()
