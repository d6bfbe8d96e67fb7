"""Global ids and artifact URIs live below the domain and raise a plain ValueError each door translates."""

import pytest

from launchui.core import ids


def test_global_id_round_trips_and_accepts_a_bare_number():
    assert ids.decode(ids.encode("Artifact", 42), "Artifact") == 42
    assert ids.decode("42", "Artifact") == 42


def test_global_id_of_another_type_is_refused_with_a_plain_value_error():
    with pytest.raises(ValueError, match="not a valid Artifact id"):
        ids.decode(ids.encode("Run", 42), "Artifact")
    with pytest.raises(ids.InvalidId):
        ids.decode("%%%", "Artifact")


def test_artifact_uri_is_spelled_once_and_read_back():
    uri = ids.artifact_uri(7)
    assert uri == "wandb-artifact://_id/" + ids.encode("Artifact", 7)
    assert ids.artifact_pk_from_uri(uri) == 7
    assert ids.artifact_pk_from_uri("https://example.com/code.zip") is None
    with pytest.raises(ids.InvalidId):
        ids.artifact_pk_from_uri("wandb-artifact://_id/%%%")
