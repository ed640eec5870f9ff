"""Database models, one module per aggregate."""

from .accounts import Membership, MembershipLevel, Organization, Project, User, UserSession
from .activity import ActivityLog
from .api_keys import PersonalAPIKey
from .evaluations import Evaluation
from .login_failures import LoginFailure
from .symbol_sets import Release, SymbolSet

__all__ = [
    "ActivityLog",
    "Evaluation",
    "LoginFailure",
    "Membership",
    "MembershipLevel",
    "Organization",
    "PersonalAPIKey",
    "Project",
    "Release",
    "SymbolSet",
    "User",
    "UserSession",
]
