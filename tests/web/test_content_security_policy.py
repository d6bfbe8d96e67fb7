"""Finding 14: a strict Content-Security-Policy on every page, so templates carry no inline script, event
handler, style or htmx code that the browser would have to evaluate (tests/browser/test_security.py runs
the pages under it)."""

import re
from pathlib import Path

import pytest

from tests.web.helpers import text

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
}


def directives(response) -> set[str]:
    return {part.strip() for part in response.headers["Content-Security-Policy"].split(";")}


@pytest.mark.parametrize("url", ["/login", "/signup", "/launch", "/entities", "/admin/login/"])
def test_content_security_policy_header_on_pages(client, owner, url):
    if url not in ("/login", "/signup", "/admin/login/"):
        client.force_login(owner)
    assert directives(client.get(url)) == POLICY


def test_content_security_policy_templates_have_no_inline_code_or_style():
    offenders = []
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")|<style\b|\sstyle=|\son[a-z]+=|"
        r"\shx-on|\shx-vals=\"js:|\shx-vars=|javascript:|hx-trigger=\"[^\"]*\["
    )
    for path in TEMPLATES.rglob("*.html"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if inline.search(line):
                offenders.append(f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()}")
    assert offenders == []


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(client, owner):
    client.force_login(owner)
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in text(
        client.get("/launch")
    )
