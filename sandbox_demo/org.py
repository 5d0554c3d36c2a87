"""The demo's sales org: a head of sales, five account executives, a solutions engineer, and the
customer contacts they meet. Every person has a display name, as the providers show it."""

from __future__ import annotations

from dataclasses import dataclass

DOMAIN = "acme.example"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    internal: bool
    # How a customer joins: signed in to the provider (e-mail or account known), or as a guest who
    # types a name (a browser guest, an anonymous Meet user): then only the name tells who it is.
    signs_in: bool = True


def _colleague(name: str) -> Person:
    return Person(name, f"{name.lower().replace(' ', '.')}@{DOMAIN}", internal=True)


HEAD_OF_SALES = _colleague("Mia Manager")
ACCOUNT_EXECUTIVES = (
    _colleague("Alex Rivera"),
    _colleague("Bea Novak"),
    _colleague("Chen Li"),
    _colleague("Dara Okafor"),
    _colleague("Eli Moreau"),
)
SOLUTIONS_ENGINEER = _colleague("Sam Singh")
COLLEAGUES = (HEAD_OF_SALES, *ACCOUNT_EXECUTIVES, SOLUTIONS_ENGINEER)

# Hourly cost per person where it differs from the company default (config/sandbox.yaml: 75 USD).
HOURLY_COST_OVERRIDES = {HEAD_OF_SALES.email: 140.0, SOLUTIONS_ENGINEER.email: 95.0}


@dataclass(frozen=True)
class Account:
    """A customer company, the AE who owns it, and the contacts who come to its meetings."""

    name: str
    domain: str
    owner: Person
    contacts: tuple[Person, ...]
    # Microsoft 365 customers get Teams, whoever the AE is (a routing rule by attendee domain).
    on_microsoft: bool = False


def _contact(name: str, domain: str, *, signs_in: bool = True) -> Person:
    local = name.lower().replace(" ", ".").replace("'", "")
    return Person(name, f"{local}@{domain}", internal=False, signs_in=signs_in)


def _account(
    name: str, domain: str, owner: Person, *contacts: tuple[str, bool], microsoft: bool = False
) -> Account:
    people = tuple(_contact(n, domain, signs_in=s) for n, s in contacts)
    return Account(name, domain, owner, people, on_microsoft=microsoft)


_ALEX, _BEA, _CHEN, _DARA, _ELI = ACCOUNT_EXECUTIVES
ACCOUNTS = (
    _account("Globex", "globex.example", _ALEX, ("Hank Scorpio", True), ("Lena Park", False)),
    _account("Initech", "initech.example", _ALEX, ("Bill Lumbergh", True), ("Joanna Doe", True)),
    _account(
        "Contoso", "contoso.example", _BEA, ("Megan Bowen", True), ("Alan Steiner", False), microsoft=True
    ),
    _account("Umbrella", "umbrella.example", _BEA, ("Ada Wong", True), ("Carlos Oliveira", True)),
    _account(
        "Fabrikam", "fabrikam.example", _CHEN, ("Nestor Wilke", True), ("Irvin Sayers", False), microsoft=True
    ),
    _account("Hooli", "hooli.example", _CHEN, ("Gavin Belson", True), ("Denpok Singh", False)),
    _account("Stark Industries", "stark.example", _DARA, ("Pepper Potts", True), ("Happy Hogan", False)),
    _account("Wayne Enterprises", "wayne.example", _DARA, ("Lucius Fox", True), ("Selina Kyle", True)),
    _account("Soylent", "soylent.example", _ELI, ("Sol Roth", True), ("Tab Fielding", False)),
    _account("Tyrell", "tyrell.example", _ELI, ("Rachael Tyrell", True), ("Dave Holden", True)),
)
