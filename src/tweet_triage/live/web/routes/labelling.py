"""The label page: one tweet at a time, the model's least certain first, fast keys.

`y` needs support, `n` not, `s` skip, `z` undo the last answer. Answers are inbox decisions
(`needed_us` or `not_for_us`, with who and when), so `label` and `retrain` read them like any
other. A share of the tweets shown (`model.active.DEFAULT_RANDOM_SHARE`) is drawn at random
from the evaluation pool, kept apart for unbiased comparison (see `model.active`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tweet_triage.data.decisions import Decision
from tweet_triage.live.active import next_from_store
from tweet_triage.live.store import DecisionSource
from tweet_triage.live.web.deciding import record_decision
from tweet_triage.live.web.deps import CsrfSessionDep, InboxDep, SessionDep, render

router = APIRouter()
ANSWERS = {"yes": Decision.NEEDED_US, "no": Decision.NOT_FOR_US}
LOOK_AHEAD = 200  # undecided tweets read per pool beyond the skipped ones


def _skips(raw: str) -> list[str]:
    """The tweets skipped in this round: all of them travel in the URL, none forgotten."""
    return list(dict.fromkeys(s for s in raw.split(",") if s.isdigit()))


def _url(skips: list[str], last: str | None) -> str:
    query = []
    if skips:
        query.append("skip=" + ",".join(skips))
    if last:
        query.append(f"last={last}")
    return "/label" + ("?" + "&".join(query) if query else "")


@router.get("/label", response_class=HTMLResponse)
def label_page(
    request: Request, session: SessionDep, box: InboxDep, skip: str = "", last: str = ""
) -> Response:
    skips = _skips(skip)
    # every skipped tweet may be among the closest: look that much further
    found = next_from_store(box.store, skip=set(skips), window=LOOK_AHEAD + len(skips))
    tweet, pool = found if found else (None, None)
    return render(
        request,
        "label.html",
        {
            "active": "label",
            "tweet": tweet,
            "pool": pool,
            "skip": ",".join(skips),
            "last": last if last.isdigit() else "",
            "answers_so_far": box.store.count_decisions(
                user_id=session.user.id, source=DecisionSource.LABEL
            ),
        },
    )


@router.post("/label")
def label_answer(
    session: CsrfSessionDep,
    box: InboxDep,
    tweet_id: Annotated[str, Form(max_length=32)],
    answer: Annotated[Literal["yes", "no", "skip"], Form()],
    skip: Annotated[str, Form()] = "",
) -> Response:
    skips = _skips(skip)
    if answer == "skip":
        return RedirectResponse(_url([*skips, tweet_id], None), status_code=303)
    record_decision(
        box, tweet_id, session.user, ANSWERS[answer], replace=False, source=DecisionSource.LABEL
    )
    return RedirectResponse(_url(skips, tweet_id), status_code=303)


@router.post("/label/undo")
def label_undo(
    session: CsrfSessionDep,
    box: InboxDep,
    last: Annotated[str, Form(max_length=32)],
    skip: Annotated[str, Form()] = "",
) -> Response:
    if not box.store.undo_last_decision(last, session.user.id):
        raise HTTPException(404, f"no answer of yours on tweet {last} to undo")
    return RedirectResponse(_url(_skips(skip), None), status_code=303)
