"""Fixtures: the Salesforce emulator on a loopback port, and a SOAP endpoint that answers like ours."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from integrations.crm.salesforce.auth import ClientCredentials
from integrations.crm.salesforce.client import SalesforceClient
from integrations.crm.salesforce.outbound_message import (
    OutboundMessage,
    OutboundMessageError,
    ack_envelope,
    fault_envelope,
    parse_outbound_message,
)
from integrations.sandbox.salesforce import (
    ManualClock,
    SalesforceEmulatorConfig,
    SalesforceEmulatorState,
    SigningKey,
    create_salesforce_emulator,
    emulator_state,
    new_signing_key,
)
from integrations.sandbox.server import RunningServer, serve_in_thread


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return new_signing_key()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


@dataclass
class RunningSalesforce:
    server: RunningServer
    state: SalesforceEmulatorState
    clients: list[SalesforceClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    def client(self, grant: Any = None) -> SalesforceClient:
        config = self.state.config
        client = SalesforceClient(
            self.token_url,
            grant or ClientCredentials(config.client_id, config.client_secret),
            timeout_seconds=5,
        )
        self.clients.append(client)
        return client

    def event(self, **fields: Any) -> str:
        return self.state.create_record(
            "Event",
            {
                "Subject": "Discovery call",
                "StartDateTime": "2026-12-01T10:00:00.000+0000",
                "EndDateTime": "2026-12-01T10:30:00.000+0000",
                **fields,
            },
        )


@pytest.fixture
def start_salesforce(
    clock: ManualClock, signing_key: SigningKey
) -> Iterator[Callable[..., RunningSalesforce]]:
    started: list[RunningSalesforce] = []

    def start(**overrides: Any) -> RunningSalesforce:
        config = SalesforceEmulatorConfig(clock=clock, jwt_certificate_pem=signing_key.certificate_pem)
        app = create_salesforce_emulator(replace(config, **overrides))
        running = RunningSalesforce(serve_in_thread(app), emulator_state(app))
        started.append(running)
        return running

    yield start
    for running in started:
        for client in running.clients:
            client.close()
        running.server.stop()


@pytest.fixture
def salesforce(start_salesforce: Callable[..., RunningSalesforce]) -> RunningSalesforce:
    return start_salesforce()


@dataclass
class SoapEndpoint:
    """An outbound-message endpoint: parses with our parser, acks unless told to fail."""

    server: RunningServer | None = None
    fail_next: int = 0
    messages: list[OutboundMessage] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/outbound"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/outbound")
        async def outbound(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                if self.fail_next > 0:
                    self.fail_next -= 1
                    self.answers.append(503)
                    return Response(fault_envelope("unavailable", "try later", server_side=True), 503)
            try:
                message = parse_outbound_message(body)
            except OutboundMessageError as exc:
                with self.lock:
                    self.answers.append(400)
                return Response(fault_envelope(exc.code, exc.message), 400, media_type="text/xml")
            with self.lock:
                self.messages.append(message)
                self.answers.append(200)
            return Response(ack_envelope(), 200, media_type="text/xml")

        return app


@pytest.fixture
def soap_endpoint() -> Iterator[SoapEndpoint]:
    endpoint = SoapEndpoint()
    endpoint.server = serve_in_thread(endpoint.app())
    yield endpoint
    endpoint.server.stop()
