"""Salesforce as a CRM plugin: Outbound Messages in (`POST /webhooks/salesforce`), the measured
outcome PATCHed onto the record out, with a client-credentials or JWT bearer token."""

from __future__ import annotations

from integrations.crm.plugin import CrmContext, CrmParts, CrmPlugin
from integrations.crm.salesforce.auth import ClientCredentials, Grant, JwtBearer
from integrations.crm.salesforce.client import SalesforceClient
from integrations.crm.salesforce.config import AuthMode, SalesforceConfig
from integrations.crm.salesforce.inbound import outbound_endpoint, record_parser
from integrations.crm.salesforce.sandbox import start_salesforce_sandbox
from integrations.crm.salesforce.writer import SalesforceWriter
from integrations.plugin import SecretSpec

CLIENT_SECRET = "salesforce_client_secret"  # noqa: S105 - the secret's name, not its value


def grant(context: CrmContext[SalesforceConfig]) -> Grant:
    section = context.section
    assert section.client_id is not None  # the section refuses an enabled org without one
    if section.auth is AuthMode.JWT_BEARER:
        assert section.username is not None and section.private_key_file is not None
        return JwtBearer(
            section.client_id,
            section.username,
            section.login_url.rstrip("/"),
            section.private_key_file.read_bytes(),
            now=lambda: context.clock().timestamp(),
        )
    return ClientCredentials(section.client_id, context.secret(CLIENT_SECRET))


def build_salesforce(context: CrmContext[SalesforceConfig]) -> CrmParts:
    section = context.section
    assert section.organization_id is not None  # the section refuses an enabled org without one
    client = SalesforceClient(
        section.token_url,
        grant(context),
        api_version=section.api_version,
        timeout_seconds=section.timeout_seconds,
    )
    writer = SalesforceWriter(section, client)
    return CrmParts(
        parse=record_parser(section.mapping),
        inbound=(outbound_endpoint(section.organization_id),),
        writer=writer,
        close=writer.close,
    )


def needed_secrets(section: SalesforceConfig) -> frozenset[str]:
    return frozenset({CLIENT_SECRET}) if section.auth is AuthMode.CLIENT_CREDENTIALS else frozenset()


PLUGIN: CrmPlugin[SalesforceConfig] = CrmPlugin(
    name="salesforce",
    config_model=SalesforceConfig,
    build=build_salesforce,
    secrets=(SecretSpec(CLIENT_SECRET, yaml_keys=("client_secret", "consumer_secret")),),
    start_sandbox=start_salesforce_sandbox,
    needed_secrets=needed_secrets,
)
