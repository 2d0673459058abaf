"""``python -m command_api``: serve the command API."""

from common.serve import serve
from common.settings import CommandApiSettings

if __name__ == "__main__":
    serve("command_api.app:create_served_app", "command_api", CommandApiSettings())
