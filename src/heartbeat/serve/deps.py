"""What every route depends on: the service's state, a database session, the caller and their role.

The state (model, settings, sessions, monitor, throttle) lives in ``app.state.service``, set by
:func:`heartbeat.serve.app.create_app`; routes take it as a ``Svc`` parameter. The caller was
already authenticated by the Guard (heartbeat.serve.guard) before the body was read; the
dependency here takes that principal, checks the role the route asks for, and records the user
for the request log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from heartbeat.serve import auth


@dataclass
class Service:
    """Everything a route needs besides its request: built once by create_app."""

    settings: object      # heartbeat.serve.app.Settings
    model: object         # heartbeat.inference.modelio.LoadedModel
    version: str
    sessions: object      # a SQLAlchemy sessionmaker
    monitor: object       # heartbeat.serve.monitor.Monitor
    throttle: object      # heartbeat.serve.guard.Throttle


def service(request: Request) -> Service:
    return request.app.state.service


def db(request: Request):
    with request.app.state.service.sessions() as s:
        yield s


api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key, hbk_...")
oauth2 = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


def principal(request: Request, key: str | None = Security(api_key), bearer: str | None = Security(oauth2),
              s: Session = Depends(db)) -> auth.Principal:
    p = getattr(request.state, "principal", None) or auth.authenticate(s, key, bearer)  # the Guard's, if any
    request.state.user, request.state.role = p.name, p.role
    return p


def role(name: str, what: str):
    def check(p: auth.Principal = Depends(principal)) -> auth.Principal:
        auth.require_role(p, name, what)
        return p
    return check


Svc = Annotated[Service, Depends(service)]
DB = Annotated[Session, Depends(db)]
Reader = Annotated[auth.Principal, Depends(role("reader", "this endpoint"))]
Clinician = Annotated[auth.Principal, Depends(role("clinician", "feedback"))]
#: storing a recording changes the service's data: a reader sees everything and changes nothing
Uploader = Annotated[auth.Principal, Depends(role("clinician", "uploading a recording"))]
Admin = Annotated[auth.Principal, Depends(role("admin", "user management"))]


def invalid(loc: tuple, msg: str, typ: str = "value_error") -> RequestValidationError:
    """A 422 raised by a route, worded like the validation errors (heartbeat.serve.schemas.explain)."""
    return RequestValidationError([{"type": typ, "loc": loc, "msg": msg}])
