"""Database models of wbl-scheduler (SQLAlchemy 2.x), and the engine and session factory.

Importing this package registers every model on `Base.metadata`, which is what Alembic and
`create_all` see. Migrations live in `models/migrations`; `models.migrate.upgrade` runs them
(kept out of this namespace so that importing the models does not import Alembic).
"""

from models.audit import AuditEvent
from models.base import Base, UTCDateTime, utcnow
from models.db import database_url, make_engine, make_session_factory
from models.geocode import GeocodeCache
from models.links import FeedState, LinkKind, PrivateLink
from models.people import DeclinedPair, MailMessage, MailStatus
from models.program import Membership, Program, Role, User
from models.round import (
    Employer,
    Forbidden,
    Mentor,
    Opportunity,
    OpportunityAccept,
    OpportunityKind,
    Pin,
    Preference,
    Round,
    RoundStatus,
    School,
    Slot,
    Student,
    TravelGroup,
    TravelGroupTime,
    TravelMode,
    TravelOverride,
)
from models.solve import (
    Assignment,
    AssignmentStatus,
    Mentorship,
    RunStatus,
    SolutionStatus,
    SolveRun,
    Unplaced,
    Weekday,
)

__all__ = [
    "Assignment",
    "AssignmentStatus",
    "AuditEvent",
    "Base",
    "DeclinedPair",
    "Employer",
    "FeedState",
    "Forbidden",
    "GeocodeCache",
    "LinkKind",
    "MailMessage",
    "MailStatus",
    "Membership",
    "Mentor",
    "Mentorship",
    "Opportunity",
    "OpportunityAccept",
    "OpportunityKind",
    "Pin",
    "Preference",
    "PrivateLink",
    "Program",
    "Role",
    "Round",
    "RoundStatus",
    "RunStatus",
    "School",
    "Slot",
    "SolutionStatus",
    "SolveRun",
    "Student",
    "TravelGroup",
    "TravelGroupTime",
    "TravelMode",
    "TravelOverride",
    "UTCDateTime",
    "Unplaced",
    "User",
    "Weekday",
    "database_url",
    "make_engine",
    "make_session_factory",
    "utcnow",
]
