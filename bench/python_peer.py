#!/usr/bin/env python3
"""The Python peer of bench/compare.sh: submit -> poll -> download against a zbatch mock.

What a small, idiomatic asyncio client does: one shared httpx.AsyncClient (keep-alive pool of
--concurrency connections), --concurrency tasks each taking the next image, submitting it,
waiting --poll-ms before each poll until the task is terminal, then downloading the image.
Prints one JSON line: {"client", "images", "delivered", "seconds", "images_per_s"}.
Debian's python3 and python3-httpx only; loopback only.
"""

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlparse

import httpx

MODEL = "Tongyi-MAI/Z-Image-Turbo"
PROMPT = "A seamless geometric pattern, two colors"
AUTH = "Bearer python-peer"  # The mock accepts any key.


async def one_image(client, base_url, poll_s):
    submit = await client.post(
        base_url + "/v1/images/generations",
        headers={"Authorization": AUTH, "X-ModelScope-Async-Mode": "true"},
        json={"model": MODEL, "prompt": PROMPT, "seed": 1000, "size": "1024x1024"},
    )
    if submit.status_code != 200:
        return False
    task_id = submit.json()["task_id"]
    while True:
        await asyncio.sleep(poll_s)
        poll = await client.get(
            base_url + "/v1/tasks/" + task_id,
            headers={"Authorization": AUTH, "X-ModelScope-Task-Type": "image_generation"},
        )
        if poll.status_code != 200:
            return False
        state = poll.json()
        if state["task_status"] == "SUCCEED":
            break
        if state["task_status"] == "FAILED":
            return False
    image = await client.get(state["output_images"][0])  # No key on image URLs, as zbatch.
    return image.status_code == 200 and image.content.startswith(b"\x89PNG")


async def run(base_url, images, concurrency, poll_s):
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:
        next_index = 0
        delivered = 0

        async def worker():
            nonlocal next_index, delivered
            while next_index < images:
                next_index += 1
                if await one_image(client, base_url, poll_s):
                    delivered += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return delivered, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="a zbatch mock on loopback")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    args = parser.parse_args()
    host = urlparse(args.base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("python_peer.py: --base-url must be a loopback mock, got " + args.base_url)
    if not 1 <= args.images <= 1_000_000 or not 1 <= args.concurrency <= 1024:
        sys.exit("python_peer.py: --images 1..1000000, --concurrency 1..1024")
    delivered, seconds = asyncio.run(
        run(args.base_url.rstrip("/"), args.images, args.concurrency, args.poll_ms / 1000.0))
    print(json.dumps({"client": "python-httpx", "images": args.images, "delivered": delivered,
                      "seconds": round(seconds, 3),
                      "images_per_s": round(delivered / seconds, 1)}))
    return 0 if delivered == args.images else 1


if __name__ == "__main__":
    sys.exit(main())
