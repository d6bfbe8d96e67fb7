"""Signed transfer URLs answer CORS: a preflight (what `wandb verify` checks) and every answer."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["artifact_upload", "artifact_download", "run_file_upload", "run_file_download"])
def test_a_signed_url_answers_a_preflight_and_marks_its_answers_for_any_origin(client, name):
    url = reverse(name, kwargs={"token": "not-a-valid-token"})
    preflight = client.options(url, HTTP_ORIGIN="http://example.test", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert set(preflight["Access-Control-Allow-Methods"].split(", ")) == {"GET", "HEAD", "PUT", "OPTIONS"}
    # A real request with a bad token is still refused, and says so to any origin.
    method = client.put if name.endswith("upload") else client.get
    refused = method(url, HTTP_ORIGIN="http://example.test")
    assert refused.status_code == 403 and refused["Access-Control-Allow-Origin"] == "*"
