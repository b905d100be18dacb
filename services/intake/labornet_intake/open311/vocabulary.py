"""The services Open311 clients file under (``data/open311_services.yml``):
the case categories, their attributes (the consent among them) and how
discovery, the service list and a definition show them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from labornet_intake.open311.errors import Open311Error, invalid
from labornet_intake.open311.spec import SPECIFICATION
from labornet_shared.categories import DEFAULT_AGENCY


@dataclass(frozen=True)
class Value:
    """One choice of a list attribute."""

    key: str
    name: dict[str, str]


@dataclass(frozen=True)
class Attribute:
    """One question of a service definition."""

    code: str
    datatype: str
    required: bool
    order: int
    description: dict[str, str]
    label: str
    datatype_description: dict[str, str] | None = None
    values: tuple[Value, ...] = ()

    @property
    def is_list(self) -> bool:
        """A single- or multi-value list."""
        return self.datatype in ("singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class Service:
    """A case category as an Open311 service."""

    code: str
    name: dict[str, str]
    description: dict[str, str]
    keywords: dict[str, str]
    attributes: tuple[Attribute, ...]

    @property
    def group(self) -> str:
        """The agency the category goes to by default."""
        return DEFAULT_AGENCY[self.code]


@dataclass(frozen=True)
class Catalogue:
    """Everything ``data/open311_services.yml`` says."""

    changeset: str
    contact: dict[str, str]
    key_service: dict[str, str]
    consent_purpose: str
    services: dict[str, Service]
    notices: dict[str, dict[str, str]]
    status_notes: dict[str, dict[str, str]]
    outcomes: dict[str, dict[str, str]]


#: the attribute every service definition ends with, and its one value
CONSENT = "consent"
CONSENT_GIVEN = "yes"
#: what /v1 keeps of a consent's purpose (ConsentSchema)
MAX_PURPOSE = 500

DATATYPES = (
    "string",
    "number",
    "datetime",
    "text",
    "singlevaluelist",
    "multivaluelist",
)


def _attribute(raw: dict[str, Any], order: int) -> Attribute:
    attribute = Attribute(
        code=str(raw["code"]),
        datatype=str(raw["datatype"]),
        required=bool(raw["required"]),
        order=order,
        description=dict(raw["description"]),
        label=str(raw["label"]),
        datatype_description=raw.get("datatype_description"),
        values=tuple(
            Value(str(v["key"]), dict(v["name"])) for v in raw.get("values") or ()
        ),
    )
    if attribute.datatype not in DATATYPES or attribute.is_list != bool(
        attribute.values
    ):
        raise ValueError(f"attribute {attribute.code}: datatype and values disagree")
    return attribute


def load_catalogue(text: str) -> Catalogue:
    """Read the services file; every category gets a service, every service
    the consent attribute last."""
    document = yaml.safe_load(text)
    consent = document["consent"]
    if len(consent["description"]) > MAX_PURPOSE:
        raise ValueError("the consent's purpose is longer than a case keeps")
    services: dict[str, Service] = {}
    for raw in document["services"]:
        own = [_attribute(a, order) for order, a in enumerate(raw["attributes"], 1)]
        consent_attribute = Attribute(
            code=CONSENT,
            datatype="singlevaluelist",
            required=False,
            order=len(own) + 1,
            # the purpose in both languages, whatever the locale
            description={"th": consent["description"], "en": consent["description"]},
            label="",
            datatype_description=dict(consent["datatype_description"]),
            values=(Value(CONSENT_GIVEN, dict(consent["value_name"])),),
        )
        code = str(raw["service_code"])
        services[code] = Service(
            code=code,
            name=dict(raw["name"]),
            description=dict(raw["description"]),
            keywords=dict(raw["keywords"]),
            attributes=(*own, consent_attribute),
        )
    if set(services) != set(DEFAULT_AGENCY):
        raise ValueError("the Open311 services must be exactly the case categories")
    return Catalogue(
        changeset=str(document["changeset"]),
        contact=dict(document["contact"]),
        key_service=dict(document["key_service"]),
        consent_purpose=str(consent["description"]),
        services=services,
        notices=document["notices"],
        status_notes=document["status_notes"],
        outcomes=document["outcomes"],
    )


@cache
def catalogue() -> Catalogue:
    """The services, read once from the package's data file."""
    data = files("labornet_intake").joinpath("data", "open311_services.yml")
    return load_catalogue(data.read_text(encoding="utf-8"))


def service_of(code: str | None) -> Service:
    """The service of ``code``; 400 when none was given, 404 when it is
    unknown."""
    if code is None:
        raise invalid(("service_code_missing", "service_code"))
    service = catalogue().services.get(code)
    if service is None:
        raise Open311Error(404, ("service_code_not_found", "service_code"))
    return service


def discovery_view(base_url: str, endpoint_type: str, locale: str) -> dict[str, Any]:
    """The Service Discovery document of this endpoint."""
    known = catalogue()
    return {
        "changeset": known.changeset,
        "contact": known.contact[locale],
        "key_service": known.key_service[locale],
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base_url,
                "changeset": known.changeset,
                "type": endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


def service_view(service: Service, locale: str) -> dict[str, Any]:
    """One entry of ``GET services``."""
    return {
        "service_code": service.code,
        "service_name": service.name[locale],
        "description": service.description[locale],
        # every service asks at least for consent
        "metadata": bool(service.attributes),
        "type": "realtime",
        "keywords": service.keywords[locale],
        "group": service.group,
    }


def definition_view(service: Service, locale: str) -> dict[str, Any]:
    """``GET services/{service_code}``: the service's attributes."""
    attributes = []
    for attribute in service.attributes:
        entry: dict[str, Any] = {
            "variable": True,
            "code": attribute.code,
            "datatype": attribute.datatype,
            "required": attribute.required,
            "datatype_description": (attribute.datatype_description or {}).get(locale),
            "order": attribute.order,
            "description": attribute.description[locale],
        }
        if attribute.is_list:
            entry["values"] = [
                {"key": value.key, "name": value.name[locale]}
                for value in attribute.values
            ]
        attributes.append(entry)
    return {"service_code": service.code, "attributes": attributes}
