"""X's batch compliance jobs, as the fake X API serves them (shapes from the X API OpenAPI document,
`ComplianceJob` and `CreateComplianceJobRequest`; the result lines as X's batch compliance
documentation describes them: `{"id", "action", "created_at", "redacted_at", "reason"}`).

- POST /2/compliance/jobs {"type", "name"} creates a job `created`, with an upload and a download
  URL on this same server (standing in for X's storage: they need no bearer token, and a request
  that sends one there is recorded in `tokens_sent_to_storage`); a second job of a type while one
  is not finished is X's 400 (one concurrent job per type);
- GET /2/compliance/jobs?type=&status= lists the jobs; GET /2/compliance/jobs/:id answers one;
- PUT to the upload URL stores the ids (one per line); after `upload_seconds` the URL is refused
  (403) and the job expires;
- an uploaded job is `in_progress` for `polls_until_complete` polls, then `complete`, or what the
  next entry of `outcomes` says (`failed`, `expired`);
- GET of the download URL of a complete job answers one JSON line per uploaded id that has an
  entry in `results[type]`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_http import Request, Response

JOBS_PATH = "/2/compliance/jobs"
UPLOAD_PREFIX = "/storage/upload/"
DOWNLOAD_PREFIX = "/storage/download/"


def result_line(item_id: str, reason: str, created_at: str = "2021-07-21T11:05:40.000Z") -> dict[str, str]:
    """One line of a job's results; `scrub_geo` has its own action, every other reason deletes."""
    return {
        "id": item_id,
        "action": "scrub_geo" if reason == "scrub_geo" else "delete",
        "created_at": created_at,
        "redacted_at": "2026-12-05T09:00:00.000Z",
        "reason": reason,
    }


def _iso(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class FakeJob:
    id: str
    type: str
    name: str
    created: float
    status: str = "created"
    uploaded: list[str] | None = None
    polls: int = 0
    # What the job ends as once processed: complete, failed or expired.
    outcome: str = "complete"


@dataclass
class FakeCompliance:
    base_url: str
    # Per job type: id → the result X has for it (ids without one are fine, and not in the results).
    results: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: {"tweets": {}, "users": {}})
    polls_until_complete: int = 1
    upload_seconds: float = 900.0
    # Outcomes forced on the next jobs created, in order ("failed", "expired").
    outcomes: deque[str] = field(default_factory=deque)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    tokens_sent_to_storage: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_api(self, request: Request) -> Response:
        with self._lock:
            if request.path == JOBS_PATH and request.method == "POST":
                return self._create(json.loads(request.body or b"{}"))
            if request.path == JOBS_PATH:
                listed = [
                    self._view(job)
                    for job in self.jobs.values()
                    if job.type == request.query.get("type")
                    and request.query.get("status") in (None, self._refresh(job).status)
                ]
                body: dict[str, Any] = {"meta": {"result_count": len(listed)}}
                if listed:
                    body["data"] = listed
                return Response(200, json.dumps(body).encode())
            job = self.jobs.get(request.path.removeprefix(JOBS_PATH + "/"))
            if job is None:
                return _problem(404, "Not Found Error", "Could not find the compliance job")
            job = self._refresh(job)
            if job.uploaded is not None and job.status == "in_progress":
                job.polls += 1
                if job.polls >= self.polls_until_complete:
                    job.status = job.outcome
            return Response(200, json.dumps({"data": self._view(job)}).encode())

    def handle_storage(self, request: Request) -> Response:
        with self._lock:
            if "authorization" in request.headers:
                self.tokens_sent_to_storage += 1
            if request.path.startswith(UPLOAD_PREFIX) and request.method == "PUT":
                job = self.jobs.get(request.path.removeprefix(UPLOAD_PREFIX))
                if job is None or self._refresh(job).status != "created":
                    return Response(403, b"<Error><Code>AccessDenied</Code></Error>")
                job.uploaded = [line for line in request.body.decode().splitlines() if line.strip()]
                job.status = "in_progress"
                return Response(200, b"")
            job = self.jobs.get(request.path.removeprefix(DOWNLOAD_PREFIX))
            if job is None or job.status != "complete" or job.uploaded is None:
                return Response(403, b"<Error><Code>AccessDenied</Code></Error>")
            known = self.results.get(job.type, {})
            lines = [json.dumps(known[i]) for i in job.uploaded if i in known]
            return Response(
                200, "".join(f"{line}\n" for line in lines).encode(), {"Content-Type": "text/plain"}
            )

    def uploads(self, job_type: str) -> list[list[str]]:
        """The ids of every upload of `job_type`, job by job."""
        return [
            job.uploaded for job in self.jobs.values() if job.type == job_type and job.uploaded is not None
        ]

    def _create(self, request: dict[str, Any]) -> Response:
        job_type = request.get("type")
        if job_type not in ("tweets", "users"):
            return _problem(400, "Invalid Request", "type must be tweets or users")
        if any(
            j.type == job_type and self._refresh(j).status in ("created", "in_progress")
            for j in self.jobs.values()
        ):
            return _problem(400, "Invalid Request", "You can only have one active job of each type at a time")
        job = FakeJob(str(1_000_000 + len(self.jobs)), job_type, str(request.get("name", "")), time.time())
        if self.outcomes:
            job.outcome = self.outcomes.popleft()
        self.jobs[job.id] = job
        return Response(200, json.dumps({"data": self._view(job)}).encode())

    def _refresh(self, job: FakeJob) -> FakeJob:
        if job.status == "created" and time.time() >= job.created + self.upload_seconds:
            job.status = "expired"
        return job

    def _view(self, job: FakeJob) -> dict[str, Any]:
        return {
            "id": job.id,
            "type": job.type,
            "name": job.name,
            "status": job.status,
            "created_at": _iso(job.created),
            "upload_url": f"{self.base_url}{UPLOAD_PREFIX}{job.id}",
            "upload_expires_at": _iso(job.created + self.upload_seconds),
            "download_url": f"{self.base_url}{DOWNLOAD_PREFIX}{job.id}",
            "download_expires_at": _iso(job.created + 7 * 86400),
        }


def _problem(status: int, title: str, detail: str) -> Response:
    return Response(
        status,
        json.dumps({"title": title, "detail": detail, "type": "about:blank", "status": status}).encode(),
    )
