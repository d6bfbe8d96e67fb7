from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_queries(client, url, **kwargs) -> tuple[int, object]:
    """The number of queries a GET issues, and its response."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **kwargs)
    assert response.status_code == 200, response.status_code
    return len(queries), response


def text(response) -> str:
    return response.content.decode()
