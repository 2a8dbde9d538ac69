"""The worker skips asking workflows for payload contexts only when no codec or external storage reads them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from worker.activation_order import RecordedOrderRunner, needs_payload_contexts
from worker.temporal_client import DATA_CONVERTER


class _Reverse(PayloadCodec):
    """A codec that would see the context (any codec may use it to pick a key)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=p.metadata, data=p.data[::-1]) for p in payloads]


def test_liftoffs_converter_needs_no_payload_contexts() -> None:
    assert DATA_CONVERTER.payload_codec is None
    assert not needs_payload_contexts(DATA_CONVERTER)
    assert RecordedOrderRunner(data_converter=DATA_CONVERTER).contexts_unused


def test_a_codec_gets_its_contexts() -> None:
    with_codec = dataclasses.replace(DATA_CONVERTER, payload_codec=_Reverse())
    assert needs_payload_contexts(with_codec)
    assert not RecordedOrderRunner(data_converter=with_codec).contexts_unused


def test_a_runner_told_nothing_asks_as_the_sdk_does() -> None:
    assert not RecordedOrderRunner().contexts_unused
