"""The Lab's one way to call a language model: litellm behind a small interface, metered.

A ``LabModel`` makes the calls, retrying what is worth retrying; every call comes back as a
``Completion``, the record the session keeps for audit. A ``Meter`` counts a session's calls,
tokens and dollars against its budget. With no model configured the Lab gets a ``NoModel``,
which calls nothing and says why.

Unknown prices: a call to a model missing from litellm's price map costs ``None``, never a
made-up zero. Such calls cannot be held to a budget, so a session with a budget refuses a model
without a price unless it was opened with ``allow_unpriced=True``; the meter then counts those
calls apart and its summary says the budget does not cover them.

litellm takes seconds to import, so it is imported on first use, never on the desk's start path.
"""

from __future__ import annotations

import asyncio
import copy
import email.utils
import itertools
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from types import ModuleType
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ledgers.clock import Clock, WallClock

Message = dict[str, Any]

# litellm prefixes a provider's message with its own class names: "litellm.RateLimitError:
# RateLimitError: OpenAIException - slow down" says no more to a user than "slow down".
_LITELLM_PREFIX = re.compile(r"^(litellm\.\w+: )?(\w+Error: )?(\w+Exception - )?")
_FOUR_PLACES = Decimal("0.0001")


class ModelError(Exception):
    """A model call failed; the message names the provider and never holds a key."""


class ModelRefused(ModelError):
    """The provider turned the request down (a 4xx other than 429); retrying will not help."""


class ModelUnavailable(ModelError):
    """The provider did not answer within the retries allowed."""


class NoModelConfigured(ModelError):
    """The session has no language model."""


class BudgetExceeded(Exception):
    """The session has spent its budget."""


class UnpricedModel(Exception):
    """A budget is set but the model has no known price, so the budget could not hold."""


def usd(amount: Decimal) -> str:
    """Dollars to four places, or to two significant figures when smaller than a hundredth cent."""
    places = _FOUR_PLACES
    if amount != 0 and abs(amount) < places:
        places = Decimal(1).scaleb(amount.adjusted() - 1)
    return f"${amount.quantize(places, ROUND_HALF_UP)}"


class ModelSpec(BaseModel):
    """Which model to call and how: ``provider/name`` as litellm spells it, e.g.
    ``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4-5``, ``ollama/llama3.1``; an
    OpenAI-compatible server is ``openai/<name>`` with its ``base_url``."""

    model_config = ConfigDict(frozen=True)

    model: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout: float = Field(60.0, gt=0, description="seconds for one attempt")
    max_retries: int = Field(3, ge=0, description="retries after the first attempt")
    backoff: float = Field(1.0, ge=0, description="seconds before the first retry; doubles")
    max_wait: float = Field(30.0, ge=0, description="longest wait before a retry, in seconds")

    @field_validator("model")
    @classmethod
    def _provider_and_name(cls, value: str) -> str:
        provider, _, name = value.partition("/")
        if not provider or not name:
            raise ValueError(f"expected provider/name, e.g. openai/gpt-4o-mini, got {value!r}")
        return value

    @property
    def provider(self) -> str:
        return self.model.partition("/")[0]

    @property
    def where(self) -> str:
        """The provider as a user would recognise it in an error."""
        return f"{self.provider} at {self.base_url}" if self.base_url else self.provider


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool the model asked for; ``arguments`` is None and ``error`` says why when the model's
    arguments were not a JSON object."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """One model call as the audit keeps it: what was asked, what came back, and its price."""

    model: str
    messages: tuple[Message, ...]
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal | None  # USD; None when litellm has no price for the model
    attempts: int
    latency: float  # seconds from the first attempt to the answer, waits included
    started_at: datetime
    finished_at: datetime

    @property
    def cost_label(self) -> str:
        return "unknown price" if self.cost is None else usd(self.cost)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record with a stable shape: amounts as strings, times in ISO 8601."""
        return {
            "model": self.model,
            "messages": list(self.messages),
            "text": self.text,
            "tool_calls": [
                {
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "raw_arguments": call.raw_arguments,
                    "error": call.error,
                }
                for call in self.tool_calls
            ],
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": None if self.cost is None else str(self.cost),
            "cost": self.cost_label,
            "attempts": self.attempts,
            "latency_s": round(self.latency, 6),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
        }


@dataclass
class Meter:
    """A session's calls, tokens and spend against an optional budget in USD."""

    budget: Decimal | None = None
    allow_unpriced: bool = False
    calls: int = 0
    unpriced_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spent: Decimal = field(default_factory=Decimal)

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget < 0:
            raise ValueError(f"a budget cannot be negative, got {self.budget}")

    def admit(self, model: str, *, priced: bool) -> None:
        """Refuse a model without a price when a budget is set, unless unpriced calls are allowed."""
        if priced or self.budget is None or self.allow_unpriced:
            return
        raise UnpricedModel(
            f"{model} has no price in litellm's map, so a budget of {usd(self.budget)} cannot "
            "be enforced on it; allow unpriced calls to use it anyway"
        )

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if completion.cost is None:
            self.unpriced_calls += 1
        else:
            self.spent += completion.cost

    def check(self) -> None:
        """Raise ``BudgetExceeded`` once the priced spend reaches the budget."""
        if self.budget is not None and self.spent >= self.budget:
            raise BudgetExceeded(
                f"spent {usd(self.spent)} of {usd(self.budget)}; raise the budget to resume"
            )

    def summary(self) -> str:
        """One line for the session's footer and report."""
        calls = f"{self.calls} call{'' if self.calls == 1 else 's'}"
        tokens = f"{self.prompt_tokens:,} prompt + {self.completion_tokens:,} completion tokens"
        if self.budget is None:
            spend = f"{usd(self.spent)} spent, no budget"
        else:
            spend = f"{usd(self.spent)} of a {usd(self.budget)} budget"
        line = f"{calls}, {tokens}, {spend}"
        if self.unpriced_calls:
            n = self.unpriced_calls
            line += f"; {n} call{'' if n == 1 else 's'} at an unknown price not in that total"
            if self.budget is not None:
                line += ", which the budget cannot limit"
        return line


class LanguageModel(Protocol):
    """What the Lab calls: a configured model, or ``NoModel``."""

    available: bool
    reason: str | None  # why the model is not available; None when it is

    async def complete(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Completion: ...


class NoModel:
    """Stands in when no model is configured: it calls nothing, and says so."""

    available = False

    def __init__(
        self,
        reason: str = "no language model is configured: the Lab plans by rule and writes a "
        "templated narrative",
    ) -> None:
        self.reason: str | None = reason

    async def complete(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Completion:
        raise NoModelConfigured(self.reason)


class LabModel:
    """A language model reached through litellm, its calls counted by ``meter``."""

    available = True
    reason: str | None = None

    def __init__(
        self, spec: ModelSpec, meter: Meter | None = None, clock: Clock | None = None
    ) -> None:
        self.spec = spec
        self.meter = meter if meter is not None else Meter()
        self.clock = clock or WallClock()
        self.priced = _has_price(spec.model)
        self.meter.admit(spec.model, priced=self.priced)

    def __repr__(self) -> str:
        return f"LabModel({self.spec.model!r}, priced={self.priced})"

    async def complete(
        self,
        messages: list[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> Completion:
        """Ask the model; retry 429s, 5xx and timeouts with backoff; meter and record the call."""
        self.meter.check()
        litellm = _litellm()
        from openai import APIError  # litellm's errors all derive from the OpenAI SDK's

        spec = self.spec
        request: dict[str, Any] = {
            "model": spec.model,
            "messages": messages,
            "timeout": spec.timeout,
            "max_retries": 0,  # the retries are ours, so each one is counted and waited for here
        }
        if spec.api_key is not None:
            request["api_key"] = spec.api_key.get_secret_value()
        if spec.base_url is not None:
            request["api_base"] = spec.base_url
        if tools is not None:
            request["tools"] = tools
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        started_at, started = self.clock.now(), time.monotonic()
        for attempt in itertools.count(1):
            try:
                response = await litellm.acompletion(**request)
            except APIError as exc:
                await asyncio.sleep(self._wait_before_retry(exc, attempt))
            else:
                break
        choice = response.choices[0]
        usage = response.usage
        completion = Completion(
            model=spec.model,
            messages=tuple(copy.deepcopy(messages)),
            text=choice.message.content or "",
            tool_calls=tuple(_tool_call(call) for call in choice.message.tool_calls or ()),
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=self._cost(litellm, response),
            attempts=attempt,
            latency=time.monotonic() - started,
            started_at=started_at,
            finished_at=self.clock.now(),
        )
        self.meter.add(completion)
        return completion

    def _cost(self, litellm: ModuleType, response: object) -> Decimal | None:
        if not self.priced:
            return None
        dollars = litellm.completion_cost(completion_response=response, model=self.spec.model)
        return Decimal(repr(dollars))  # the float's shortest digits, not its binary expansion

    def _wait_before_retry(self, exc: Exception, attempt: int) -> float:
        """Seconds to wait before the next attempt, or raise when there should be none.

        The errors are raised ``from None``: the provider's own exception may quote the key back.
        """
        spec = self.spec
        status = getattr(exc, "status_code", None)
        timed_out = isinstance(exc, _litellm().Timeout)
        detail = (
            f"no answer within {spec.timeout:g} s"
            if timed_out
            else f"HTTP {status}: {_redact(_message(exc), spec.api_key)}"
        )
        if not timed_out and status is not None and 400 <= status < 500 and status != 429:
            raise ModelRefused(f"{spec.where} refused {spec.model}: {detail}") from None
        if attempt > spec.max_retries:
            raise ModelUnavailable(
                f"{spec.where} did not answer {spec.model} after {attempt} attempts: {detail}"
            ) from None
        asked = _retry_after(exc, self.clock.now())
        if asked is None:
            return min(spec.backoff * 2 ** (attempt - 1), spec.max_wait)
        if asked > spec.max_wait:
            raise ModelUnavailable(
                f"{spec.where} asked to wait {asked:g} s before retrying {spec.model}, longer "
                f"than the {spec.max_wait:g} s allowed: {detail}"
            ) from None
        return asked


def open_model(spec: ModelSpec | None, meter: Meter | None = None) -> LanguageModel:
    """The session's model: ``NoModel`` when none is configured."""
    return NoModel() if spec is None else LabModel(spec, meter)


def _litellm() -> ModuleType:
    # Without this litellm fetches its price map from the internet on import.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    return litellm


def _has_price(model: str) -> bool:
    litellm = _litellm()
    try:
        info = litellm.get_model_info(model)
    except litellm.ModelNotMappedError:
        return False
    return info.get("input_cost_per_token") is not None and (
        info.get("output_cost_per_token") is not None
    )


def _tool_call(call: Any) -> ToolCall:
    name = call.function.name
    raw = call.function.arguments or "{}"  # some providers send "" for a call without arguments
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolCall(call.id, name, None, raw, f"arguments for {name} are not JSON: {exc}")
    if not isinstance(arguments, dict):
        return ToolCall(call.id, name, None, raw, f"arguments for {name} are not a JSON object")
    return ToolCall(call.id, name, arguments, raw)


def _message(exc: Exception) -> str:
    return _LITELLM_PREFIX.sub("", str(getattr(exc, "message", exc)))


def _redact(text: str, key: SecretStr | None) -> str:
    secret = key.get_secret_value() if key is not None else ""
    return text.replace(secret, "**********") if secret else text


def _retry_after(exc: Exception, now: datetime) -> float | None:
    """The wait the provider asked for in its Retry-After header: seconds or an HTTP date."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT
    return max(0.0, (when - now).total_seconds())
