"""People and accounts across sources: the shared identity shape (and, beside it, how people are joined)."""

from agent.identity.shape import IDENTITY_TYPE, PERSON_TYPE, IdentityAccount, Person

__all__ = ["IDENTITY_TYPE", "PERSON_TYPE", "IdentityAccount", "Person"]
