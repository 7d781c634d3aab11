"""The requests a seed document shows, read from its verbatim copy in tests/compat/seeds/.

Every `curl` in the document's shell blocks becomes a SeedRequest, in the document's order, with
its method, URL, headers and body exactly as written; the tests swap only the base URL (and fill
the document's placeholders such as `{build-uuid}` with what earlier answers returned).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parent / "seeds"
BLOCK = re.compile(r"```(?:bash|sh)?\n(.*?)```", re.S)


@dataclass
class SeedRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    def path(self, base_urls: tuple[str, ...]) -> str:
        """The URL with the document's base URL removed (`/dashboard/summary`)."""
        for base in base_urls:
            if self.url.startswith(base):
                return self.url[len(base):] or "/"
        raise AssertionError(f"{self.url} is not under {base_urls}")

    def send(self, client: Any, base: str, base_urls: tuple[str, ...], values: dict[str, str]) -> Any:
        """Send it with the test client, under `base`, placeholders replaced by `values`."""
        path, headers, body = self.path(base_urls), dict(self.headers), self.body
        for placeholder, value in values.items():
            path = path.replace(placeholder, value)
            headers = {k: v.replace(placeholder, value) for k, v in headers.items()}
            body = body.replace(placeholder, value) if body is not None else None
        return client.open(base + path, method=self.method, headers=headers, data=body)


def document(name: str) -> str:
    return (SEEDS / name).read_text()


def curl_requests(text: str) -> list[SeedRequest]:
    """Every curl command of the document's shell blocks, in order."""
    found = []
    for block in BLOCK.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        pending = ""
        for line in joined.splitlines():
            if pending:  # a quoted body that goes on over several lines
                pending += "\n" + line
            elif line.strip().startswith("curl "):
                pending = line.strip()
            else:
                continue
            try:
                found.append(parse_curl(pending))
            except ValueError:  # the quote is not closed yet
                continue
            pending = ""
    return found


def parse_curl(command: str) -> SeedRequest:
    tokens = shlex.split(command, comments=True)
    assert tokens[0] == "curl"
    request = SeedRequest("GET", "")
    args = iter(tokens[1:])
    for token in args:
        if token == "-X":
            request.method = next(args)
        elif token == "-H":
            name, _, value = next(args).partition(":")
            request.headers[name.strip()] = value.strip()
        elif token in ("-d", "--data"):
            request.body = next(args)
            if request.method == "GET":
                request.method = "POST"
        elif token.startswith("-"):
            raise AssertionError(f"curl option {token!r} is not understood by this reader")
        else:
            assert not request.url, f"two URLs in {command!r}"
            request.url = token
    return request
