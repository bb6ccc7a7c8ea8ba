"""The Lab's model client against a scripted OpenAI-compatible server, through litellm's real
request path: keys, tokens, prices, tool calls, retries, budgets and the audit record."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import ValidationError

from agents.models import (
    BudgetExceeded,
    LabModel,
    Meter,
    ModelRefused,
    ModelSpec,
    ModelUnavailable,
    NoModel,
    NoModelConfigured,
    UnpricedModel,
    open_model,
    usd,
)
from ledgers.clock import ManualClock
from tests.agents.scripted_model import Delay, Failure, ScriptedModel, Text, ToolCalls, serve
from tests.conftest import FROZEN

KEY = "sk-test-8f3a1c9e2b7d4065"
PRICED = "openai/gpt-4o-mini"
UNPRICED = "openai/made-up-model-7"
ASK = [{"role": "user", "content": "Is BTC/AUD overbought on the 4h chart?"}]
LOOKUP = {
    "type": "function",
    "function": {
        "name": "rsi",
        "description": "Wilder's RSI for a symbol",
        "parameters": {
            "type": "object",
            "properties": {"symbol": {"type": "string"}, "period": {"type": "integer"}},
            "required": ["symbol"],
        },
    },
}


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModel]:
    with serve() as model:
        yield model


def spec(server: ScriptedModel, model: str = PRICED, **overrides: Any) -> ModelSpec:
    fast = {"timeout": 5.0, "max_retries": 2, "backoff": 0.001, "max_wait": 1.0}
    return ModelSpec(model=model, api_key=KEY, base_url=server.base_url, **fast | overrides)


def unit_prices(model: str) -> tuple[float, float]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    info = litellm.model_cost[model.partition("/")[2]]
    return info["input_cost_per_token"], info["output_cost_per_token"]


async def test_a_text_answer_goes_through_the_endpoint_with_the_key_and_is_priced(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(Text("RSI(14) is 71.3: overbought.", prompt_tokens=1200))
    model = LabModel(spec(scripted_model))

    answer = await model.complete(ASK)

    [request] = scripted_model.received
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == ASK
    usage = scripted_model.sent[0]["usage"]
    assert answer.text == "RSI(14) is 71.3: overbought."
    assert answer.finish_reason == "stop"
    assert answer.tool_calls == ()
    assert (answer.prompt_tokens, answer.completion_tokens) == (1200, usage["completion_tokens"])
    per_prompt, per_completion = unit_prices(PRICED)
    expected = 1200 * per_prompt + usage["completion_tokens"] * per_completion
    assert answer.cost is not None and expected > 0
    assert float(answer.cost) == pytest.approx(expected, rel=1e-12)
    assert answer.cost_label == usd(answer.cost)
    assert answer.attempts == 1


async def test_a_model_without_a_price_costs_none_not_zero(scripted_model: ScriptedModel) -> None:
    scripted_model.script(Text("hello", prompt_tokens=30, completion_tokens=2))
    meter = Meter()
    model = LabModel(spec(scripted_model, UNPRICED), meter)

    answer = await model.complete(ASK)

    assert scripted_model.received[0].body["model"] == "made-up-model-7"
    assert answer.cost is None
    assert answer.cost_label == "unknown price"
    assert answer.to_json()["cost_usd"] is None
    assert (meter.calls, meter.unpriced_calls, meter.spent) == (1, 1, Decimal(0))
    assert meter.prompt_tokens == 30
    assert "1 call at an unknown price not in that total" in meter.summary()


async def test_tool_calls_are_parsed_and_malformed_arguments_become_an_error_result(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(
        ToolCalls(
            (
                ("rsi", '{"symbol": "BTC/AUD", "period": 14}'),
                ("rsi", '{"symbol": "ETH/AUD", "period": '),
                ("rsi", '["SOL/AUD"]'),
            )
        )
    )
    model = LabModel(spec(scripted_model))

    answer = await model.complete(ASK, tools=[LOOKUP], tool_choice="auto")

    assert scripted_model.received[0].body["tools"] == [LOOKUP]
    assert scripted_model.received[0].body["tool_choice"] == "auto"
    assert answer.finish_reason == "tool_calls"
    good, truncated, listed = answer.tool_calls
    assert (good.name, good.arguments, good.error) == (
        "rsi",
        {"symbol": "BTC/AUD", "period": 14},
        None,
    )
    assert good.id.startswith("call_")
    assert truncated.arguments is None
    assert truncated.raw_arguments == '{"symbol": "ETH/AUD", "period": '
    assert truncated.error is not None and "arguments for rsi are not JSON" in truncated.error
    assert listed.arguments is None
    assert listed.error == "arguments for rsi are not a JSON object"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retried(
    scripted_model: ScriptedModel, status: int
) -> None:
    scripted_model.script(Failure(status, "busy"), Text("second time lucky"))
    model = LabModel(spec(scripted_model))

    answer = await model.complete(ASK)

    assert answer.text == "second time lucky"
    assert answer.attempts == 2
    assert len(scripted_model.received) == 2
    assert model.meter.calls == 1


async def test_retry_after_in_seconds_is_honoured(scripted_model: ScriptedModel) -> None:
    scripted_model.script(Failure(429, "slow down", retry_after="0.3"), Text("ok"))
    model = LabModel(spec(scripted_model))

    started = time.monotonic()
    answer = await model.complete(ASK)

    assert time.monotonic() - started >= 0.3
    assert answer.latency >= 0.3
    assert answer.attempts == 2


async def test_retry_after_as_an_http_date_is_honoured(scripted_model: ScriptedModel) -> None:
    scripted_model.script(Failure(429, "slow down", retry_after=format_datetime(FROZEN, True)))
    scripted_model.script(Text("ok"))
    clock = ManualClock(FROZEN - timedelta(seconds=0.3))
    model = LabModel(spec(scripted_model), clock=clock)

    started = time.monotonic()
    await model.complete(ASK)

    assert time.monotonic() - started >= 0.3


async def test_a_retry_after_longer_than_allowed_gives_up_at_once(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(Failure(429, "come back in an hour", retry_after="3600"))
    model = LabModel(spec(scripted_model))

    with pytest.raises(ModelUnavailable, match="asked to wait 3600 s") as raised:
        await model.complete(ASK)

    assert "longer than the 1 s allowed" in str(raised.value)
    assert len(scripted_model.received) == 1


async def test_retries_run_out_with_an_error_naming_provider_and_status(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(*[Failure(503, "overloaded")] * 3)
    model = LabModel(spec(scripted_model, max_retries=2, backoff=0.1))

    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as raised:
        await model.complete(ASK)

    assert time.monotonic() - started >= 0.1 + 0.2  # the wait doubles after each failure

    assert str(raised.value) == (
        f"openai at {scripted_model.base_url} did not answer openai/gpt-4o-mini after 3 attempts: "
        "HTTP 503: overloaded"
    )
    assert len(scripted_model.received) == 3
    assert model.meter.calls == 0


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_other_client_errors_are_not_retried_and_never_show_the_key(
    scripted_model: ScriptedModel, status: int
) -> None:
    scripted_model.script(Failure(status, f"Incorrect API key provided: {KEY}"), Text("never"))
    model = LabModel(spec(scripted_model))

    with pytest.raises(ModelRefused) as raised:
        await model.complete(ASK)

    message = str(raised.value)
    assert message.startswith(f"openai at {scripted_model.base_url} refused openai/gpt-4o-mini")
    assert f"HTTP {status}: Incorrect API key provided: **********" in message
    assert KEY not in message and KEY not in repr(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert len(scripted_model.received) == 1


async def test_a_timeout_is_retried(scripted_model: ScriptedModel) -> None:
    scripted_model.script(Delay(5.0, Text("too late")), Text("in time"))
    model = LabModel(spec(scripted_model, timeout=0.5))

    answer = await model.complete(ASK)

    assert answer.text == "in time"
    assert answer.attempts == 2
    assert len(scripted_model.received) == 2


async def test_timeouts_run_out_with_an_error_saying_so(scripted_model: ScriptedModel) -> None:
    scripted_model.script(Delay(2.0, Text("too late")), Delay(2.0, Text("too late")))
    model = LabModel(spec(scripted_model, timeout=0.2, max_retries=1))

    with pytest.raises(ModelUnavailable, match=r"after 2 attempts: no answer within 0\.2 s"):
        await model.complete(ASK)


async def test_the_budget_stops_the_session_at_the_next_check(
    scripted_model: ScriptedModel,
) -> None:
    # gpt-4o-mini at 1000 + 1000 tokens costs $0.00075 a call: the second call crosses $0.001.
    scripted_model.script(*[Text("step", prompt_tokens=1000, completion_tokens=1000)] * 3)
    meter = Meter(budget=Decimal("0.001"))
    model = LabModel(spec(scripted_model), meter)

    meter.check()
    await model.complete(ASK)
    meter.check()
    await model.complete(ASK)

    with pytest.raises(BudgetExceeded) as raised:
        meter.check()
    assert str(raised.value) == "spent $0.0015 of $0.0010; raise the budget to resume"
    with pytest.raises(BudgetExceeded):
        await model.complete(ASK)
    assert len(scripted_model.received) == 2
    assert meter.summary() == (
        "2 calls, 2,000 prompt + 2,000 completion tokens, $0.0015 of a $0.0010 budget"
    )


async def test_a_budget_refuses_a_model_without_a_price_unless_allowed(
    scripted_model: ScriptedModel,
) -> None:
    with pytest.raises(UnpricedModel, match="budget of \\$0.5000 cannot be enforced"):
        LabModel(spec(scripted_model, UNPRICED), Meter(budget=Decimal("0.50")))

    scripted_model.script(Text("fine", prompt_tokens=10, completion_tokens=1))
    meter = Meter(budget=Decimal("0.50"), allow_unpriced=True)
    await LabModel(spec(scripted_model, UNPRICED), meter).complete(ASK)

    meter.check()
    assert meter.summary() == (
        "1 call, 10 prompt + 1 completion tokens, $0.0000 of a $0.5000 budget; "
        "1 call at an unknown price not in that total, which the budget cannot limit"
    )


async def test_the_audit_record_keeps_the_exchange_and_never_the_key(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(ToolCalls((("rsi", '{"symbol": "BTC/AUD"}'),)))
    model = LabModel(spec(scripted_model))

    record = await model.complete(ASK, tools=[LOOKUP])

    saved = json.dumps(record.to_json())
    for shown in (repr(record), str(record), saved, repr(model), repr(model.spec), str(model.spec)):
        assert KEY not in shown
    assert scripted_model.received[0].headers["authorization"] == f"Bearer {KEY}"
    restored = json.loads(saved)
    assert restored["messages"] == ASK
    assert restored["model"] == PRICED
    assert restored["tool_calls"][0]["arguments"] == {"symbol": "BTC/AUD"}
    assert restored["cost_usd"] == str(record.cost)
    assert record.started_at.utcoffset() == timedelta(0)
    assert record.started_at <= record.finished_at
    assert record.latency > 0


async def test_the_record_keeps_the_messages_as_they_were_sent(
    scripted_model: ScriptedModel,
) -> None:
    scripted_model.script(Text("ok"))
    messages = [dict(message) for message in ASK]
    record = await LabModel(spec(scripted_model)).complete(messages)

    messages[0]["content"] = "edited afterwards"

    assert record.messages == tuple(ASK)


async def test_no_model_calls_nothing_and_says_why() -> None:
    model = open_model(None)

    assert isinstance(model, NoModel)
    assert model.available is False
    assert model.reason is not None and "plans by rule" in model.reason
    with pytest.raises(NoModelConfigured, match="no language model is configured"):
        await model.complete(ASK)


def test_open_model_with_a_spec_gives_a_lab_model(scripted_model: ScriptedModel) -> None:
    model = open_model(spec(scripted_model))

    assert isinstance(model, LabModel)
    assert (model.available, model.reason, model.priced) == (True, None, True)


def test_a_spec_names_its_provider() -> None:
    with pytest.raises(ValidationError, match="expected provider/name"):
        ModelSpec(model="gpt-4o-mini")
    assert ModelSpec(model="anthropic/claude-sonnet-4-5").provider == "anthropic"


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal(0), "$0.0000"),
        (Decimal("0.0123"), "$0.0123"),
        (Decimal("1.5"), "$1.5000"),
        (Decimal("0.00000585"), "$0.0000059"),
    ],
)
def test_dollars_show_four_places_or_two_significant_figures(amount: Decimal, shown: str) -> None:
    assert usd(amount) == shown
