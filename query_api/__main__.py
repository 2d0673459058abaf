"""``python -m query_api``: serve the query API."""

from common.serve import serve
from common.settings import QueryApiSettings

if __name__ == "__main__":
    serve("query_api.app:create_app", "query_api", QueryApiSettings())
