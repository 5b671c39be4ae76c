"""The built-in deterministic model: an extractive summary of the prompt, no network.

Token rule (documented in the README): a text of ``n`` characters is ``ceil(n / 4)`` tokens;
the input is the sum over all messages, the output is the reply's own length, so a document
twice as long costs twice as much.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter

from saturn_local.providers.base import ChatMessage, Completion

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-zA-Z0-9']{3,}")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "all",
        "any",
        "can",
        "had",
        "her",
        "was",
        "one",
        "our",
        "out",
        "has",
        "have",
        "with",
        "this",
        "that",
        "from",
        "they",
        "will",
        "would",
        "there",
        "their",
        "what",
        "about",
        "which",
        "when",
        "your",
        "into",
        "than",
        "then",
        "them",
        "these",
        "some",
        "could",
        "other",
        "more",
        "also",
        "its",
        "been",
        "were",
    ]
)
_THREAD_THRESHOLD_CHARS = 100_000


def tokens_of(text: str) -> int:
    return math.ceil(len(text) / 4)


def summarize(text: str, max_chars: int) -> str:
    sentences = [s.strip() for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return ""
    freq = Counter(w for w in _WORD.findall(text.lower()) if w not in _STOP)

    def score(index: int) -> tuple[float, int]:
        words = [w for w in _WORD.findall(sentences[index].lower()) if w not in _STOP]
        value = sum(freq[w] for w in words) / math.sqrt(len(words) + 1)
        return (-value, index)  # best first, earlier sentence wins a tie

    keep = max(1, min(5, math.ceil(len(sentences) / 5)))
    chosen = sorted(sorted(range(len(sentences)), key=score)[:keep])
    summary = " ".join(sentences[i] for i in chosen)
    return summary[:max_chars]


class OfflineProvider:
    name = "offline"
    bills_on_cancel = False

    def __init__(self, *, latency_ms: int = 0) -> None:
        self._latency = latency_ms / 1000

    def estimate_input_tokens(self, messages: list[ChatMessage]) -> int:
        # Exact for this model: the same rule is used to charge.
        return max(1, sum(tokens_of(m.content) for m in messages))

    async def complete(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        temperature: float | None,
    ) -> Completion:
        if self._latency:
            await asyncio.sleep(self._latency)
        text = "\n".join(m.content for m in messages if m.role == "user") or "\n".join(
            m.content for m in messages
        )
        max_chars = max_tokens * 4
        if len(text) > _THREAD_THRESHOLD_CHARS:
            summary = await asyncio.to_thread(summarize, text, max_chars)
        else:
            summary = summarize(text, max_chars)
        return Completion(
            content=summary,
            model=model,
            input_tokens=self.estimate_input_tokens(messages),
            output_tokens=tokens_of(summary),
        )

    async def aclose(self) -> None:
        return None
