"""The brotli views' payload: a ~27 KB JSON document shipped with the app (never fetched)."""

from pathlib import Path

POSTS_FILE = Path(__file__).with_name("posts.json")


def load_posts_json() -> bytes:
    return POSTS_FILE.read_bytes()
