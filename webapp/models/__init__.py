"""Database models, one module per aggregate."""

from .accounts import Membership, MembershipLevel, Organization, Project, User, UserSession
from .activity import ActivityLog
from .api_keys import PersonalAPIKey
from .evaluations import Evaluation
from .login_failures import LoginFailure
from .symbol_sets import Release, SymbolSet
from .teams import Invitation, OrganizationActivity

__all__ = [
    "ActivityLog",
    "Evaluation",
    "Invitation",
    "LoginFailure",
    "Membership",
    "MembershipLevel",
    "Organization",
    "OrganizationActivity",
    "PersonalAPIKey",
    "Project",
    "Release",
    "SymbolSet",
    "User",
    "UserSession",
]
