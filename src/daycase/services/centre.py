"""The centre: its name, phone and timezone, and which roles are staff or admin (service room).

What a pathway knows (its roles, which are clinical, who may open a case or override a
gate) comes from the pathway file; what a centre decides (its name and phone number on
every patient page, which roles manage it) comes from its settings. The API and the pages
ask this one object, so a second pathway works through the server as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo

from daycase.config import Settings
from daycase.pathways.schema import Pathway
from daycase.services.catalog import PathwayCatalog


@dataclass(frozen=True)
class Centre:
    name: str
    phone: str
    tz: ZoneInfo
    default_pathway: str
    admin_roles: frozenset[str]
    catalog: PathwayCatalog
    report_roles: frozenset[str] = frozenset()

    @cached_property
    def _pathways(self) -> list[Pathway]:
        return self.catalog.all()

    @property
    def role_ids(self) -> set[str]:
        """Every role any known pathway version names: what a user may be given."""
        return {r.id for p in self._pathways for r in p.roles} | set(self.admin_roles)

    @property
    def role_titles(self) -> dict[str, str]:
        latest = self.pathway()
        titles = {r.id: r.title for p in self._pathways for r in p.roles}
        return titles | {r.id: r.title for r in latest.roles}

    @cached_property
    def alert_titles(self) -> dict[str, str]:
        """Each alert code's title for people (the latest version's wording wins)."""
        titles: dict[str, str] = {}
        for pathway in self._pathways:
            titles |= {a.code: a.title for a in pathway.alerts if a.title}
        latest = self.pathway()
        return titles | {a.code: a.title for a in latest.alerts if a.title}

    def alert_title(self, code: str) -> str:
        """ "Recovery vitals overdue", not `vitals_overdue`: staff read titles, the API codes."""
        return self.alert_titles.get(code) or code.replace("_", " ").capitalize()

    def is_admin(self, role: str) -> bool:
        return role in self.admin_roles

    def may_read_reports(self, role: str) -> bool:
        """The admins, and the clinical leads the centre names (read-only)."""
        return self.is_admin(role) or role in self.report_roles

    def is_staff(self, role: str) -> bool:
        """Staff see clinical detail: the clinical roles of any pathway, and the admins.
        Everyone else (a waiting-room screen) sees the de-identified family board only."""
        clinical = any(r.id == role and r.clinical for p in self._pathways for r in p.roles)
        return clinical or self.is_admin(role)

    def pathway(self, version: str | None = None) -> Pathway:
        """The default pathway of new cases, in a version (the latest when None)."""
        return self.catalog.get(self.default_pathway, version)

    def may_open_cases(self, role: str) -> bool:
        return role in self.pathway().open_roles


class CentreError(ValueError):
    """A centre setting names a role that no pathway here has."""


def centre_from(settings: Settings, catalog: PathwayCatalog) -> Centre:
    """The centre, refusing role settings that name no known role: a misspelt desk role
    would quietly give the front desk the whole clinical record."""
    known = {r.id for p in catalog.all() for r in p.roles}
    for name, roles in (
        ("DESK_ROLES", settings.desk_roles),
        ("REPORT_ROLES", settings.report_roles),
    ):
        unknown = sorted(set(roles) - known)
        if unknown:
            raise CentreError(
                f"setting DAYCASE_{name}: {', '.join(unknown)} is no role of the pathways "
                f"here (roles: {', '.join(sorted(known))})"
            )
    return Centre(
        name=settings.centre_name,
        phone=settings.centre_phone,
        tz=ZoneInfo(settings.timezone),
        default_pathway=settings.default_pathway,
        admin_roles=frozenset(settings.admin_roles),
        catalog=catalog,
        report_roles=frozenset(settings.report_roles),
    )
