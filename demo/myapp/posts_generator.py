"""Generate ``posts.json``: 100 placeholder blog posts shaped like jsonplaceholder's /posts.

The original benchmark downloaded that document at import time; this generator makes a local
stand-in of the same shape and size (~27 KB), byte-for-byte reproducible. Regenerate with
``python -m demo.myapp.posts_generator`` (a test checks the committed file matches).
"""

from __future__ import annotations

import json
import random

from demo.myapp.posts_payload import POSTS_FILE

POST_COUNT = 100
POSTS_PER_USER = 10
SEED = 20240510
WORDS = [
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod",
    "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "ad", "minim",
    "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea",
    "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit", "voluptate", "velit", "esse",
    "cillum", "eu", "fugiat", "nulla", "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non",
    "proident", "sunt", "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id", "est", "laborum", "at",
    "vero", "eos", "accusamus", "iusto", "odio", "dignissimos", "ducimus", "blanditiis", "praesentium",
    "voluptatum", "deleniti", "atque", "corrupti", "quos", "dolores", "quas", "molestias",
]


def generate_posts(count: int = POST_COUNT) -> list[dict[str, int | str]]:
    """``count`` posts; only ``Random.random()`` is used, whose sequence Python keeps stable."""
    rng = random.Random(SEED)

    def pick(low: int, high: int) -> int:
        return low + int(rng.random() * (high - low + 1))

    def sentence(low: int, high: int) -> str:
        return " ".join(WORDS[pick(0, len(WORDS) - 1)] for _ in range(pick(low, high)))

    return [
        {
            "userId": (post_id - 1) // POSTS_PER_USER + 1,
            "id": post_id,
            "title": sentence(3, 8),
            "body": "\n".join(sentence(4, 8) for _ in range(4)),
        }
        for post_id in range(1, count + 1)
    ]


def render_posts(posts: list[dict[str, int | str]]) -> bytes:
    return (json.dumps(posts, indent=2) + "\n").encode()


def main() -> None:
    POSTS_FILE.write_bytes(render_posts(generate_posts()))
    print(f"wrote {POSTS_FILE} ({POSTS_FILE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
