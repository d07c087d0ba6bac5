"""``ChatOpenAI`` whose chat-completions streaming skips the SDK's per-chunk models.

The request still goes through the ``openai`` SDK (auth, retries, timeouts, status errors
mapped to its exception types, exactly as ``langchain_openai`` does); only the body of a
streamed reply is read here: the raw bytes of the SDK's own ``httpx`` response, split into
SSE events and parsed with orjson (:class:`~tokenwire.models.sse.ChunkDecoder`). Each
chunk dict then goes through ``langchain_openai``'s own ``_convert_chunk_to_generation_chunk``
— the dict the SDK path makes with ``model_dump()`` differs only in keys set to ``None``,
which that conversion reads with ``.get`` — so chunks, usage and metadata are the same.

Anything else is the parent's: non-streaming calls, the Responses API,
``response_format`` (structured output), ``include_response_headers``, the LangSmith
gateway, and clients that are not the SDK's chat-completions resource.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai import ChatOpenAI as _StockChatOpenAI
from langchain_openai import StreamChunkTimeoutError
from langchain_openai.chat_models.base import _handle_openai_api_error, _handle_openai_bad_request
from openai.resources.chat.completions import AsyncCompletions, Completions

from tokenwire.models.sse import ChunkDecoder
from tokenwire.models.transport import drain_async, request_errors, timeout_errors

__all__ = ["ChatOpenAI"]

#: The logger ``langchain_openai`` reports a fired ``stream_chunk_timeout`` on.
_TIMEOUT_LOG = logging.getLogger("langchain_openai.chat_models._client_utils")


class ChatOpenAI(_StockChatOpenAI):  # type: ignore[misc]
    """``langchain_openai.ChatOpenAI`` with a lean streaming path; use it the same way::

    from tokenwire.models import ChatOpenAI

    model = ChatOpenAI(model="gpt-4o-mini", stream_usage=True)
    """

    def _lean(self, kwargs: dict[str, Any], client: Any, kind: type) -> bool:
        """Whether this call is a plain chat-completions stream the lean path reads."""
        return (
            isinstance(client, kind)
            and not self.include_response_headers
            and not self._uses_gateway
            and "response_format" not in kwargs
            and "response_format" not in self.model_kwargs
            and not self._use_responses_api({**kwargs, **self.model_kwargs})
        )

    def _lean_payload(
        self, messages: list[BaseMessage], stop: list[str] | None, stream_usage: bool | None,
        kwargs: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        # as BaseChatOpenAI._astream / _stream build it
        kwargs["stream"] = True
        if self._should_stream_usage(stream_usage, **kwargs):
            kwargs["stream_options"] = {"include_usage": True}
        payload: dict[str, Any] = self._get_request_payload(messages, stop=stop, **kwargs)
        return payload

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if not self._lean(kwargs, self.async_client, AsyncCompletions):
            async for chunk in super()._astream(
                messages, stop, run_manager, stream_usage=stream_usage, **kwargs
            ):
                yield chunk
            return
        payload = self._lean_payload(messages, stop, stream_usage, kwargs)
        try:
            stream = await self.async_client.create(**payload)
            chunks = _read_async(stream.response, self.stream_chunk_timeout, self.model_name)
            try:
                default: type[BaseMessageChunk] = AIMessageChunk
                async for data in chunks:
                    generation = self._convert_chunk_to_generation_chunk(data, default, {})
                    if generation is None:
                        continue
                    default = generation.message.__class__
                    if run_manager:
                        logprobs = (generation.generation_info or {}).get("logprobs")
                        await run_manager.on_llm_new_token(
                            generation.text, chunk=generation, logprobs=logprobs
                        )
                    yield generation
            finally:
                await chunks.aclose()
        except openai.BadRequestError as e:
            _handle_openai_bad_request(e)
        except openai.APIError as e:
            _handle_openai_api_error(e)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        *,
        stream_usage: bool | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if not self._lean(kwargs, self.client, Completions):
            yield from super()._stream(
                messages, stop, run_manager, stream_usage=stream_usage, **kwargs
            )
            return
        payload = self._lean_payload(messages, stop, stream_usage, kwargs)
        try:
            stream = self.client.create(**payload)
            try:
                default: type[BaseMessageChunk] = AIMessageChunk
                for data in _read_sync(stream.response):
                    generation = self._convert_chunk_to_generation_chunk(data, default, {})
                    if generation is None:
                        continue
                    default = generation.message.__class__
                    if run_manager:
                        logprobs = (generation.generation_info or {}).get("logprobs")
                        run_manager.on_llm_new_token(
                            generation.text, chunk=generation, logprobs=logprobs
                        )
                    yield generation
            finally:
                stream.response.close()
        except openai.BadRequestError as e:
            _handle_openai_bad_request(e)
        except openai.APIError as e:
            _handle_openai_api_error(e)


def _raise_if_error(data: Any, response: Any) -> None:
    """An ``{"error": ...}`` event mid-stream is an ``openai.APIError``, as in the SDK."""
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else None
        if not message or not isinstance(message, str):
            message = "An error occurred during streaming"
        raise openai.APIError(message=message, request=response.request, body=error)


async def _read_async(
    response: Any, chunk_timeout: float | None, model_name: str
) -> AsyncGenerator[Any, None]:
    """The chunk dicts of a streamed response; then the response is closed.

    ``stream_chunk_timeout`` bounds the wait for each next chunk, as
    ``langchain_openai``'s ``_astream_with_chunk_timeout`` does, with one deadline per
    read instead of a task per chunk.
    """
    decoder = ChunkDecoder()
    loop = asyncio.get_running_loop()
    received = 0
    reads = response.aiter_bytes().__aiter__()
    ended = False
    try:
        while not (decoder.done or ended):
            deadline = loop.time() + chunk_timeout if chunk_timeout and chunk_timeout > 0 else None
            chunks: list[Any] = []
            while not (chunks or decoder.done or ended):
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await reads.__anext__()
                except StopAsyncIteration:
                    chunks, ended = decoder.close(), True
                except TimeoutError as e:
                    if deadline is None or loop.time() < deadline:
                        raise
                    raise _chunk_timeout(chunk_timeout, model_name, received) from e
                except timeout_errors() as e:
                    raise openai.APITimeoutError(request=response.request) from e
                except request_errors() as e:
                    raise openai.APIConnectionError(request=response.request) from e
                else:
                    chunks = decoder.feed(data)
            for chunk in chunks:
                _raise_if_error(chunk, response)
                received += 1
                yield chunk
        if decoder.done and response.http_version == "HTTP/1.1":
            await drain_async(reads)  # so the connection goes back to the pool
    finally:
        await response.aclose()


def _chunk_timeout(timeout: Any, model_name: str, received: int) -> StreamChunkTimeoutError:
    _TIMEOUT_LOG.warning(
        "langchain_openai.stream_chunk_timeout fired",
        extra={
            "source": "stream_chunk_timeout",
            "timeout_s": timeout,
            "model_name": model_name,
            "chunks_received": received,
        },
    )
    return StreamChunkTimeoutError(timeout, model_name=model_name, chunks_received=received)


def _read_sync(response: Any) -> Iterator[Any]:
    decoder = ChunkDecoder()
    try:
        for data in response.iter_bytes():
            for chunk in decoder.feed(data):
                _raise_if_error(chunk, response)
                yield chunk
            if decoder.done:
                return
        for chunk in decoder.close():
            _raise_if_error(chunk, response)
            yield chunk
    except timeout_errors() as e:
        raise openai.APITimeoutError(request=response.request) from e
    except request_errors() as e:
        raise openai.APIConnectionError(request=response.request) from e
