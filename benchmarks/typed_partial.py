"""What partial objects cost: a typed answer fed to ``PartialParser`` in 2,000 and 20,000 chunks.

::

    .venv/bin/python -m benchmarks.typed_partial

Two schemas: ``list[Item]`` (each element parsed once) and ``Catalog`` (an object holding that
list: re-parsed whole only when new text has paid for it). Each row: CPU seconds to feed every
chunk and validate the end, the partial values handed out, the CPU of validating the final JSON
once, and (2,000 chunks only) re-parsing the whole text at every chunk, the quadratic way.
"""

from __future__ import annotations

import json
import time

from pydantic import BaseModel

from rlm_toolkit.typed import PartialParser, Schema


class Item(BaseModel):
    id: int
    name: str
    tags: list[str]


class Catalog(BaseModel):
    title: str
    items: list[Item]


def text_of(spec: object, items: int) -> str:
    rows = [{"id": i, "name": f"item number {i}", "tags": ["a", "b"]} for i in range(items)]
    return json.dumps({"value": rows} if spec is not Catalog else {"title": "catalog", "items": rows})


def main() -> None:
    for spec in (list[Item], Catalog):
        schema = Schema.of(spec)
        for n in (2_000, 20_000):
            text = text_of(spec, n)
            size = len(text) // n
            pieces = [text[i : i + size] for i in range(0, len(text), size)]
            started = time.process_time()
            parser = PartialParser(schema)
            handed = sum(parser.feed(piece) is not None for piece in pieces)
            schema.validate(text)
            fed = time.process_time() - started
            started = time.process_time()
            schema.validate(text)
            once = time.process_time() - started
            naive = ""
            if n == 2_000:
                started, so_far = time.process_time(), ""
                for piece in pieces:
                    so_far += piece
                    schema.partial(so_far)
                naive = f"; re-parsed at every chunk {time.process_time() - started:.2f} s"
            print(f"{schema.name:>14} {len(text) / 1e6:.2f} MB in {len(pieces):,} chunks: {fed:.3f} s, "
                  f"{handed:,} partial values; validated once {once:.4f} s ({fed / once:.0f}x){naive}")


if __name__ == "__main__":
    main()
