"""The label page in a real browser (Debian's chromium via Selenium, as the inbox's test):
keys answer, skip and undo, one tweet at a time; answers are stored with who and when."""

from __future__ import annotations

import pytest

from tests.integration.test_inbox_browser import (  # noqa: F401 (fixtures)
    PASSWORD,
    RunningInbox,
    _wait,
    browser,
    inbox,
)
from tests.unit.live.conftest import scored
from tweet_triage.model.evaluation_pool import in_evaluation_pool

pytestmark = pytest.mark.integration


def _shown(driver: object) -> str | None:
    return driver.execute_script(  # type: ignore[attr-defined]
        "const e = document.querySelector('article.label-tweet'); return e && e.dataset.id"
    )


def test_label_page_keys_in_a_browser(inbox: RunningInbox, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    ids = [i for i in range(9000, 9100) if not in_evaluation_pool(str(i))][:3]
    # Closest to the threshold (the lowest flagged score, 0.5) first: ids[0], then ids[1].
    inbox.store.upsert_scored(
        [scored(ids[0], 0.5), scored(ids[1], 0.62), scored(ids[2], 0.95, text="all fine")]
    )
    driver.get(inbox.url + "/label")
    driver.find_element(By.NAME, "username").send_keys("alice")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    _wait(driver, lambda d: _shown(d) == str(ids[0]))

    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("y")  # needs support
    _wait(driver, lambda d: _shown(d) == str(ids[1]))
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("z")  # undo: the first tweet comes back, its answer is gone
    _wait(driver, lambda d: _shown(d) == str(ids[0]))
    assert [d.tweet_id for d in inbox.store.decisions()] == []
    driver.find_element(By.TAG_NAME, "body").send_keys("n")  # not for us
    _wait(driver, lambda d: _shown(d) == str(ids[1]))
    driver.find_element(By.TAG_NAME, "body").send_keys("s")  # skip
    _wait(driver, lambda d: _shown(d) == str(ids[2]))
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # not a key of the page
    decisions = inbox.store.decisions()
    assert [(d.tweet_id, d.user_name, d.decision) for d in decisions] == [
        (str(ids[0]), "alice", "not_for_us")
    ]
    assert decisions[0].decided_at is not None
