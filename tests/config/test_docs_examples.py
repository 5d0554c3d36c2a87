"""The CRM setup guides' examples are real: each guide's `crm:` YAML passes `config check` on top of
the example config, and the HubSpot guide's workflow body becomes the meeting it describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from integrations.crm.hubspot.inbound import record_parser
from service.config.loader import check_config, load_config
from service.usecases.crm_sync import meeting_input

ROOT = Path(__file__).resolve().parents[2]


def blocks(doc: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", doc, re.S)


def config_with_crm_of(guide: Path, tmp_path: Path) -> Path:
    crm_blocks = [b for b in blocks(guide.read_text(), "yaml") if b.startswith("crm:")]
    assert crm_blocks, f"{guide.name} shows no `crm:` block"
    config = yaml.safe_load((ROOT / "config" / "salesmeet.example.yaml").read_text())
    config["crm"] = yaml.safe_load(crm_blocks[0])["crm"]
    path = tmp_path / "salesmeet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    # A key file the Salesforce guide's JWT example may name must exist for the check.
    for section in config["crm"].values():
        if isinstance(section, dict) and section.get("private_key_file"):
            key = tmp_path / section["private_key_file"]
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text("placeholder")
    return path


@pytest.mark.parametrize("guide", ["crm-hubspot.md", "crm-salesforce.md"])
def test_a_guides_crm_config_passes_the_checker(guide: str, tmp_path: Path) -> None:
    path = config_with_crm_of(ROOT / "docs" / guide, tmp_path)
    assert check_config(path) == []


def test_the_hubspot_guides_example_body_is_the_meeting_it_describes(tmp_path: Path) -> None:
    guide = ROOT / "docs" / "crm-hubspot.md"
    section = load_config(config_with_crm_of(guide, tmp_path)).crm.section("hubspot")
    body = json.loads(blocks(guide.read_text(), "json")[0])
    (record,) = record_parser(section.mapping)(json.dumps(body).encode(), {})
    meeting = meeting_input(record, "hubspot")
    assert meeting.title == body["meeting_title"]
    assert meeting.organizer.email == body["owner_email"]
    invited = {a.email: a.name for a in meeting.attendees}
    assert invited == {
        "hank.scorpio@globex.example": "Hank Scorpio",
        "lena.park@globex.example": None,
        "sam.singh@acme.example": None,
    }
    assert meeting.external_ref is not None and meeting.external_ref.id == body["hs_object_id"]
